"""Dashboards: several independent queries at once, each in its own session.

The service is given the :class:`Database`, never a session: every panel asks for its
own read session, and so gets its own pooled connection. (One ``AsyncSession`` shared
by gathered tasks fails with "This session is provisioning a new connection;
concurrent operations are not permitted" and is left broken; this design makes that
mistake impossible to make by accident.)

The panels are those of the registry (:mod:`gallery_analytics.panels`), or any list of
:class:`Panel`; each result carries the panel's columns, with the load's currency as the
unit of its money columns. Money is converted into that currency at monthly exchange
rates; what a panel could not convert is said in its ``notes``
(:func:`exclusion_note`), never dropped silently. A panel that fails or exceeds its
time budget becomes a :class:`PanelResult` carrying the error; the others still arrive.
Cancelling a load cancels every panel query: the client stops waiting, asyncpg asks the
server to cancel the statement, and the connection goes back to the pool.

The registry's panels go through the shared panel cache
(:mod:`gallery_analytics.services.panel_cache`): a result is reused while the data
version it was read at is current, concurrent identical requests share one query, and
``refresh=True`` reads afresh (and stores what it read). Panels given as objects outside
the registry are never cached: their name need not say what they compute.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gallery_analytics import panels as registry
from gallery_analytics.concurrency import gather_all, responsive_to_interrupts
from gallery_analytics.db.database import Database
from gallery_analytics.db.models import RATE_BASE_CURRENCY
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.domain.results import GalleryOverviewDto, PanelResult
from gallery_analytics.domain.values import (
    parse_id,
    reject_awaitable,
    reject_awaitables,
    require_date,
)
from gallery_analytics.errors import (
    DatabaseNotAnsweringError,
    GalleryAnalyticsError,
    PanelFailedError,
    QueryTimeoutError,
    ValidationError,
)
from gallery_analytics.panels import Panel
from gallery_analytics.services.catalog import CatalogService, check_list_limit
from gallery_analytics.services.dtos import DashboardDto
from gallery_analytics.services.panel_cache import panel_cache, read_version, start_snapshot

logger = logging.getLogger(__name__)

_UNKNOWN_MEDIUMS = text(
    "SELECT m.medium FROM unnest(CAST(:mediums AS text[])) WITH ORDINALITY AS m(medium, n) "
    "WHERE NOT EXISTS (SELECT 1 FROM artworks a WHERE a.medium = m.medium) ORDER BY m.n"
)
_USER_EXISTS = text("SELECT EXISTS (SELECT 1 FROM users WHERE id = CAST(:user_id AS uuid))")
_CURRENCIES = text(
    "SELECT CAST(:base AS text) AS currency UNION SELECT currency FROM exchange_rates ORDER BY 1"
)
_SET_STATEMENT_TIMEOUT = text("SELECT set_config('statement_timeout', :milliseconds, true)")


class DashboardService:
    def __init__(self, db: Database, *, panel_timeout_seconds: float | None = None) -> None:
        reject_awaitable(db, field="db")  # `DashboardService(ga.connect())`
        reject_awaitable(panel_timeout_seconds, field="panel_timeout_seconds")
        self.db = db
        self._budget_limit = db.settings.statement_timeout_seconds
        self.panel_timeout_seconds = _check_budget(
            panel_timeout_seconds if panel_timeout_seconds is not None else self._budget_limit,
            field="panel_timeout_seconds",
            limit=self._budget_limit,
        )

    # -- gallery overview -----------------------------------------------------------------

    async def get_gallery_overview(
        self,
        filters: OverviewFilters | Mapping[str, Any] | None = None,
        *,
        panels: Sequence[Panel | str] | None = None,
        parallel: bool = True,
        timeouts: Mapping[str, float] | None = None,
        refresh: bool = False,
    ) -> GalleryOverviewDto:
        """Run every registered panel (or ``panels``: panels or their names) for
        ``filters``, concurrently by default.

        ``parallel=False`` runs the same panels one after another, for comparison.
        ``timeouts`` overrides the time budget of individual panels, by name.
        ``refresh=True`` reads every panel from the database, not the cache (and caches
        what it read).
        """
        reject_awaitables(
            {"filters": filters, "panels": panels, "timeouts": timeouts, "refresh": refresh}
        )
        _check_refresh(refresh)
        budgets_given = timeouts.items() if isinstance(timeouts, Mapping) else ()
        reject_awaitables({f"timeouts.{name}": value for name, value in budgets_given})
        checked = await self.check_filters(filters)
        chosen = _resolve_panels(panels)
        if timeouts is not None and not isinstance(timeouts, Mapping):
            raise ValidationError(
                "timeouts", "expected a dict of panel name to seconds, e.g. {'top_artists': 5}"
            )
        unknown = sorted(set(timeouts or {}) - {panel.name for panel in chosen})
        if unknown:
            raise ValidationError(
                "timeouts", f"no panel named {unknown[0]!r} in this load", value=unknown[0]
            )
        budgets = {
            panel.name: _check_budget(
                (timeouts or {}).get(panel.name, self.panel_timeout_seconds),
                field=f"timeouts.{panel.name}",
                limit=self._budget_limit,
            )
            for panel in chosen
        }
        started = time.perf_counter()
        async with responsive_to_interrupts():  # a kernel interrupt cancels promptly
            if parallel:
                results = await gather_all(
                    *(
                        self._run_panel(panel, checked, budgets[panel.name], refresh=refresh)
                        for panel in chosen
                    )
                )
            else:
                results = [
                    await self._run_panel(p, checked, budgets[p.name], refresh=refresh)
                    for p in chosen
                ]
        return GalleryOverviewDto(
            panels={result.name: result for result in results},
            wall_seconds=time.perf_counter() - started,
            parallel=parallel,
        )

    async def check_filters(
        self, filters: OverviewFilters | Mapping[str, Any] | None
    ) -> OverviewFilters:
        """Validate filters, including what only the database knows (mediums, user)."""
        checked = OverviewFilters.parse(filters)
        if not checked.mediums and checked.user_id is None:
            return checked
        async with self.db.read_session() as session:
            if checked.mediums:
                unknown = list(
                    await session.scalars(_UNKNOWN_MEDIUMS, {"mediums": list(checked.mediums)})
                )
                if unknown:
                    raise ValidationError(
                        "mediums",
                        f"unknown medium {unknown[0]!r}; no artwork has it "
                        "(DashboardService.list_mediums() lists the known ones)",
                        value=unknown[0],
                    )
            if checked.user_id is not None and not await session.scalar(
                _USER_EXISTS, {"user_id": checked.user_id}
            ):
                raise ValidationError(
                    "user_id", f"no user has id {checked.user_id!r}", value=checked.user_id
                )
        return checked

    async def list_mediums(self) -> list[str]:
        """Known mediums, most common first (for filter pickers)."""
        statement = text(
            "SELECT medium FROM artworks WHERE medium IS NOT NULL "
            "GROUP BY medium ORDER BY count(*) DESC, medium"
        )
        async with self.db.read_session() as session:
            return list((await session.scalars(statement)).all())

    async def list_currencies(self) -> list[str]:
        """The currencies money can be shown in, sorted: the rates' base currency and
        every currency with a monthly exchange rate (for the currency picker)."""
        async with self.db.read_session() as session:
            return list((await session.scalars(_CURRENCIES, {"base": RATE_BASE_CURRENCY})).all())

    async def get_panel(
        self,
        panel: Panel | str,
        filters: OverviewFilters | Mapping[str, Any] | None = None,
        *,
        refresh: bool = False,
    ) -> PanelResult:
        """One panel with its failure raised, not collected into the result: for a caller
        that shows this panel alone (an HTTP download) and must say why it has no rows
        (DatabaseUnavailableError, QueryTimeoutError...). Past its time budget on the
        client's side it is PanelFailedError with ``timed_out``. ``refresh=True`` reads
        it from the database, not the cache."""
        reject_awaitables({"panel": panel, "filters": filters, "refresh": refresh})
        _check_refresh(refresh)
        [chosen] = _resolve_panels([panel])
        checked = await self.check_filters(filters)
        budget = self.panel_timeout_seconds
        try:
            return await self._load_panel(
                chosen, checked, budget, time.perf_counter(), refresh=refresh
            )
        except DatabaseNotAnsweringError:  # before TimeoutError, its base class
            raise
        except TimeoutError:
            raise PanelFailedError(
                f"panel {chosen.name!r} took longer than its {budget:g} s budget", timed_out=True
            ) from None

    async def _run_panel(
        self, panel: Panel, filters: OverviewFilters, budget_seconds: float, *, refresh: bool
    ) -> PanelResult:
        """One panel of a load: its rows, or its failure as the result's status and error
        (one failing panel does not fail the others)."""
        started = time.perf_counter()

        def failed(status: Literal["error", "timeout"], message: str) -> PanelResult:
            return PanelResult(
                name=panel.name,
                title=panel.title,
                status=status,
                columns=panel.columns_in(filters.currency),
                error=message,
                wall_seconds=time.perf_counter() - started,
            )

        try:
            return await self._load_panel(panel, filters, budget_seconds, started, refresh=refresh)
        except DatabaseNotAnsweringError as exc:  # before TimeoutError, its base class
            return failed("error", str(exc))
        except TimeoutError:
            return failed("timeout", f"took longer than its {budget_seconds:g} s budget")
        except QueryTimeoutError:
            return failed("timeout", f"was stopped by the server after {budget_seconds:g} s")
        except GalleryAnalyticsError as exc:
            return failed("error", str(exc))
        except Exception as exc:  # a panel's bug must not take the dashboard down
            logger.exception("panel %s failed", panel.name)
            return failed("error", _unexpected_failure(exc))

    async def _load_panel(
        self,
        panel: Panel,
        filters: OverviewFilters,
        budget_seconds: float,
        started: float,
        *,
        refresh: bool,
    ) -> PanelResult:
        """One panel through the cache (a registry panel) or straight from the database
        (any other), within ``budget_seconds``; failures are raised. ``wall_seconds`` is
        this caller's wait, also when another caller's query or the cache answered."""
        if not any(panel is registered for registered in registry.PANELS):
            return await self._query_panel(panel, filters, budget_seconds, started)
        async with asyncio.timeout(budget_seconds):
            cache = await panel_cache(self.db)
            # The version for the lookup; what is stored is keyed by the version read in
            # the query's own snapshot (key_for), never by this one.
            version = -1 if refresh else await cache.current_version()
            keyed, context = _key_filters(panel, filters, self.db)

            def key_for(snapshot_version: int) -> str:
                return cache.key(panel, keyed, snapshot_version, context=context)

            # Shared by every caller asking meanwhile, so bounded by the longest budget
            # any may have (the statement timeout), not the first caller's: each caller
            # stops waiting at its own budget, and the last one leaving cancels it.
            limit = self._budget_limit

            async def compute() -> tuple[PanelResult, int]:
                return await self._query_panel_snapshot(panel, filters, limit, started)

            result = await cache.load(
                key_for(version), compute, key_for, refresh=refresh, lock_seconds=limit + 5
            )
        return result.model_copy(update={"wall_seconds": time.perf_counter() - started})

    async def _query_panel(
        self, panel: Panel, filters: OverviewFilters, budget_seconds: float, started: float
    ) -> PanelResult:
        """Run one panel's query (and its exclusion count) in a session of its own within
        ``budget_seconds``; failures are raised."""
        result, _version = await self._read_panel(
            panel, filters, budget_seconds, started, snapshot=False
        )
        return result

    async def _query_panel_snapshot(
        self, panel: Panel, filters: OverviewFilters, budget_seconds: float, started: float
    ) -> tuple[PanelResult, int]:
        """:meth:`_query_panel` in one REPEATABLE READ snapshot that also reads the data
        version: the version the result may be cached under."""
        result, version = await self._read_panel(
            panel, filters, budget_seconds, started, snapshot=True
        )
        assert version is not None  # read in the snapshot
        return result, version

    async def _read_panel(
        self,
        panel: Panel,
        filters: OverviewFilters,
        budget_seconds: float,
        started: float,
        *,
        snapshot: bool,
    ) -> tuple[PanelResult, int | None]:
        async def read(
            session: AsyncSession,
        ) -> tuple[OverviewFilters, tuple[dict[str, Any], ...], tuple[str, ...], int | None]:
            version: int | None = None
            chosen = filters
            if snapshot:
                await start_snapshot(session)  # the transaction's first statement
            # The server enforces the budget too, in case the client is stuck.
            milliseconds = str(int(budget_seconds * 1000) + 1000)
            if snapshot:  # the version in the same round trip: one statement fewer
                version = await read_version(session, statement_timeout_ms=milliseconds)
            else:
                await session.execute(_SET_STATEMENT_TIMEOUT, {"milliseconds": milliseconds})
            if panel.needs_today and chosen.today is None and not (chosen.start or chosen.end):
                # "Open now" needs the workbench's today; read in this panel's own
                # session, so no other connection is needed before the panels start
                # (and only by the panels whose query uses it).
                chosen = chosen.model_copy(update={"today": await self.db.today(session)})
            result = await session.execute(panel.query(chosen))
            rows = tuple(dict(row) for row in result.mappings())
            notes: tuple[str, ...] = ()
            if panel.excluded is not None:
                excluded = await session.execute(panel.excluded.query(chosen))
                note = exclusion_note(
                    excluded.mappings(),
                    currency=chosen.currency,
                    one=panel.excluded.one,
                    many=panel.excluded.many,
                )
                notes = () if note is None else (note,)
            return chosen, rows, notes, version

        # run_read: a replica that stops in the middle of this panel's query is left
        # for the primary, which runs the panel again (it only reads).
        async with asyncio.timeout(budget_seconds):
            filters, rows, notes, version = await self.db.run_read(read)
        return PanelResult(
            name=panel.name,
            title=panel.title,
            status="ok",
            columns=panel.columns_in(filters.currency),
            rows=rows,
            row_count=len(rows),
            wall_seconds=time.perf_counter() - started,
            notes=notes,
        ), version

    # -- user dashboard -------------------------------------------------------------------

    async def get_user_dashboard(
        self, user_id: str, *, on: dt.date | None = None, limit: int | None = None
    ) -> DashboardDto:
        """A user's artists, artworks and exhibitions open on ``on`` (default: the
        workbench's today, ``Database.today()``),
        fetched in parallel, each in its own session."""
        user_id = parse_id(user_id, field="user_id")
        # Checked here, before the parallel loads start; every coroutine given is closed.
        reject_awaitables({"on": on, "limit": limit})
        limit = check_list_limit(limit)
        day = await self.db.today() if on is None else require_date(on, field="on")
        catalog = CatalogService(self.db)
        started = time.perf_counter()
        async with responsive_to_interrupts():
            user, artists, artworks, shows = await gather_all(
                catalog.get_user(user_id),
                # get_user raises NotFoundError for an unknown user; the lists need not
                # look the user up again (two queries fewer per dashboard).
                catalog.list_artists(user_id=user_id, limit=limit, check_user=False),
                catalog.list_artworks(user_id=user_id, limit=limit, check_user=False),
                catalog.find_active_exhibitions(on=day, user_id=user_id),
            )
        return DashboardDto(
            user=user,
            on=day,
            artists=artists,
            artworks=artworks,
            active_exhibitions=shows,
            wall_seconds=time.perf_counter() - started,
        )


def exclusion_note(
    excluded: Iterable[Mapping[Any, Any]],
    *,
    currency: str,
    one: str = "sale",
    many: str = "sales",
) -> str | None:
    """The one sentence saying what a money figure left out for want of an exchange
    rate, or None when it left out nothing.

    ``excluded`` holds rows of an :class:`~gallery_analytics.queries.overview.Exclusion`
    query (``currency``, ``month``, ``count``, ``amount`` in that currency; ``one`` and
    ``many`` name what is counted), e.g. "Excluded 12 sales (USD
    3,400.00): no USD→GBP rate for 2024-03, 2024-04." Three or more consecutive months
    are given as a range ("2018-01 to 2019-12").
    """
    counts: dict[str, int] = {}
    amounts: dict[str, Decimal] = {}
    months: dict[str, list[dt.date | None]] = {}
    for row in excluded:
        code = str(row["currency"])
        counts[code] = counts.get(code, 0) + int(row["count"])
        amounts[code] = amounts.get(code, Decimal(0)) + Decimal(row["amount"])
        months.setdefault(code, []).append(row["month"])
    if not counts:
        return None
    total = sum(counts.values())
    codes = sorted(counts)
    totals = ", ".join(f"{code} {amounts[code]:,.2f}" for code in codes)
    reasons = "; ".join(
        f"no {code}→{currency} rate for {_month_ranges(months[code])}" for code in codes
    )
    noun = one if total == 1 else many
    return f"Excluded {total:,} {noun} ({totals}): {reasons}."


def _month_ranges(months: Iterable[dt.date | None]) -> str:
    """Months as "2024-01, 2024-02, 2024-05 to 2024-07": runs of three or more
    consecutive months as a range; None (an undated amount) as "undated ones"."""
    given = list(months)
    ordered = sorted({month for month in given if month is not None})
    undated = "undated ones" if None in given else ""
    if not ordered:
        return undated
    runs: list[list[dt.date]] = []
    for month in ordered:
        if runs and _month_number(month) == _month_number(runs[-1][-1]) + 1:
            runs[-1].append(month)
        else:
            runs.append([month])
    listed = ", ".join(
        f"{run[0]:%Y-%m} to {run[-1]:%Y-%m}"
        if len(run) > 2
        else ", ".join(f"{month:%Y-%m}" for month in run)
        for run in runs
    )
    return f"{listed} and for {undated}" if undated else listed


def _month_number(month: dt.date) -> int:
    return month.year * 12 + month.month


def _resolve_panels(panels: Sequence[Panel | str] | None) -> list[Panel]:
    if panels is None:
        return list(registry.PANELS)
    if isinstance(panels, str) or not isinstance(panels, Sequence) or not panels:
        raise ValidationError("panels", "expected a non-empty list of panels or panel names")
    chosen = [
        given if isinstance(given, Panel) else registry.panel(given, field="panels")
        for given in panels
    ]
    names = [panel.name for panel in chosen]
    if len(set(names)) != len(names):
        raise ValidationError("panels", "each panel may appear only once")
    return chosen


def _key_filters(
    panel: Panel, filters: OverviewFilters, db: Database
) -> tuple[OverviewFilters, str]:
    """The filters as a cache key sees them, and what else the key must tell apart:
    ``today`` only where the panel's query reads it. An explicit today is a filter like
    any other; GALLERY_TODAY is the same day given explicitly. Without either, the query
    uses the workbench's today: the dataset's reference date (data, which the data
    version covers), else the calendar's date. That is kept apart from any explicit
    today (the demo's reference date is not the calendar's), with the calendar's date in
    the key (a new day is a new key)."""
    if not panel.needs_today or filters.start or filters.end:
        return filters.model_copy(update={"today": None}), ""
    if filters.today is not None:
        return filters, ""
    if db.settings.today is not None:
        return filters.model_copy(update={"today": db.settings.today}), ""
    return filters, f"workbench-today, calendar {dt.date.today().isoformat()}"


def _check_refresh(refresh: object) -> None:
    if not isinstance(refresh, bool):
        raise ValidationError("refresh", "expected True or False", value=refresh)


def _check_budget(value: object, *, field: str, limit: float) -> float:
    """A panel's time budget: above 0 and at most the statement timeout, because every
    connection's client-side bound derives from it (a longer budget could not be kept)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= limit:
        raise ValidationError(
            field,
            f"expected a number of seconds above 0 and at most {limit:g} (the statement "
            "timeout, GALLERY_STATEMENT_TIMEOUT_SECONDS)",
            value=value,
        )
    return float(value)


def _unexpected_failure(exc: BaseException) -> str:
    """What a panel's unexpected failure says where the panel was (a page anyone may
    open): the driver's own first sentence, never the statement, its parameters or
    connection details, which SQLAlchemy appends; the whole error is in the log."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    # SQLAlchemy's asyncpg adapter prefixes "<class 'asyncpg....Error'>: ".
    text = re.sub(r"^<class '[\w.]+'>:\s*", "", text)
    first = text.splitlines()[0][:300] if text else ""
    name = type(getattr(cause, "__cause__", None) or cause).__name__
    return f"{name}: {first}" if first else name
