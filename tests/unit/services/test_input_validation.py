"""Every public entry point refuses malformed input before any I/O.

The services run against a ``Database`` whose URL points at a server that cannot exist
(port 1): constructing it opens nothing, and an entry point that reached for the database
before validating would raise :class:`DatabaseUnavailableError` instead of the expected
:class:`ValidationError`. Each case also checks that no engine or pool was created, so
"validated before any I/O" is proved, not assumed. The workbench's "today" is left unset
(reading it would query the database), so a check that waits for it shows up here too.

The cases (``bad_values.py``) used to run against a real PostgreSQL; a sample of them
still does (tests/integration/test_bad_input.py), for the pool's health afterwards and
for the writes that must leave nothing behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gallery_analytics.config import Settings
from gallery_analytics.db.database import Database
from gallery_analytics.errors import GalleryAnalyticsError, ValidationError
from gallery_analytics.frames import extract_frame
from gallery_analytics.reports import check_parameters
from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.dashboard import DashboardService
from tests.conftest import run_cli
from tests.unit.services.bad_values import (
    BAD_BUDGETS,
    BAD_DAYS,
    BAD_IDS,
    BAD_LIMITS,
    CREATE_CASES,
    EXTRACT_CASES,
    FILTER_CASES,
    FILTERS_NEEDING_THE_DATABASE,
    GETTERS,
    NIL,
    PANEL_CASES,
    REPORT_CASES,
    REPORT_CASES_AFTER_CONNECTING,
    SOME_BAD_IDS,
    TIMEOUT_CASES,
    USER_LISTS,
    assert_names,
    without,
)

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nowhere"
TODAY = dt.date(2024, 5, 1)


@pytest.fixture
def db() -> Database:
    """A Database that has never connected and never could."""
    return Database(UNREACHABLE, settings=Settings(today=None))


@pytest.fixture
def db_with_today() -> Database:
    """The same, with the workbench's "today" configured (GALLERY_TODAY, as the demo sets
    it): check_parameters reads "today" before it checks the dates (see its test)."""
    return Database(UNREACHABLE, settings=Settings(today=TODAY))


def assert_no_io(db: Database) -> None:
    """No engine was created for any event loop, so no connection was even attempted."""
    assert db.pool_status() == {"checked_out": 0, "idle": 0}
    assert not db._per_loop, "an engine was created: the call reached for the database"


async def rejected_before_io(
    db: Database, call: Callable[[], Awaitable[object]], field: str | None
) -> ValidationError:
    """Await ``call``: a ValidationError naming ``field``, and no I/O at all."""
    with pytest.raises(GalleryAnalyticsError) as caught:
        await call()
    assert_names(caught.value, field)  # a DatabaseUnavailableError here: I/O came first
    assert_no_io(db)
    assert isinstance(caught.value, ValidationError)
    return caught.value


# -- CatalogService: reads --------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(("method", "field"), GETTERS)
async def test_get_rejects_malformed_ids(
    db: Database, method: str, field: str, bad: object
) -> None:
    service = CatalogService(db)
    await rejected_before_io(db, lambda: getattr(service, method)(bad), field)


@pytest.mark.parametrize("bad", SOME_BAD_IDS)
@pytest.mark.parametrize("method", USER_LISTS)
async def test_lists_reject_malformed_user_ids(db: Database, method: str, bad: object) -> None:
    service = CatalogService(db)
    await rejected_before_io(db, lambda: getattr(service, method)(user_id=bad), "user_id")


@pytest.mark.parametrize("bad", BAD_LIMITS)
@pytest.mark.parametrize("method", ["list_users", *USER_LISTS])
async def test_lists_reject_bad_limits(db: Database, method: str, bad: object) -> None:
    """The limit is checked before the user is looked up (NIL: a well-formed id)."""
    service = CatalogService(db)
    by_user = {} if method == "list_users" else {"user_id": NIL}
    await rejected_before_io(db, lambda: getattr(service, method)(limit=bad, **by_user), "limit")


@pytest.mark.parametrize("bad", BAD_DAYS)
async def test_find_active_exhibitions_rejects_bad_days(db: Database, bad: object) -> None:
    service = CatalogService(db)
    await rejected_before_io(db, lambda: service.find_active_exhibitions(on=bad), "on")


@pytest.mark.parametrize("bad", [p for p in SOME_BAD_IDS if p.id != "none"])  # None: any
async def test_find_active_exhibitions_rejects_bad_curators(db: Database, bad: object) -> None:
    service = CatalogService(db)
    await rejected_before_io(
        db,
        lambda: service.find_active_exhibitions(on=TODAY, user_id=bad),
        "user_id",
    )


# -- CatalogService: writes -------------------------------------------------------------------


@pytest.mark.parametrize(("case", "field"), CREATE_CASES)
async def test_create_rejects_bad_input_before_any_io(
    db: Database, case: dict[str, Any], field: str
) -> None:
    """Refused before a session is opened, so nothing can have been written ("<user>": a
    well-formed id; whether it exists is the database's question, asked only later)."""
    arguments = {k: NIL if v == "<user>" else v for k, v in case.items() if k != "method"}
    method = getattr(CatalogService(db), case["method"])
    await rejected_before_io(db, lambda: method(**arguments), field)


# -- DashboardService -------------------------------------------------------------------------


@pytest.mark.parametrize(("filters", "field"), without(FILTER_CASES, FILTERS_NEEDING_THE_DATABASE))
@pytest.mark.parametrize("entry", ["check_filters", "get_gallery_overview"])
async def test_overview_filters_are_rejected(
    db: Database, entry: str, filters: object, field: str
) -> None:
    service = DashboardService(db)
    await rejected_before_io(db, lambda: getattr(service, entry)(filters), field)


@pytest.mark.parametrize("panels", PANEL_CASES)
async def test_overview_rejects_bad_panels(db: Database, panels: object) -> None:
    service = DashboardService(db)
    await rejected_before_io(db, lambda: service.get_gallery_overview(panels=panels), "panels")


@pytest.mark.parametrize(("timeouts", "field"), TIMEOUT_CASES)
async def test_overview_rejects_bad_timeouts(db: Database, timeouts: object, field: str) -> None:
    service = DashboardService(db)
    await rejected_before_io(
        db,
        lambda: service.get_gallery_overview(panels=["key_figures"], timeouts=timeouts),
        field,
    )


@pytest.mark.parametrize("budget", BAD_BUDGETS)
def test_dashboard_service_rejects_bad_panel_budgets(db: Database, budget: object) -> None:
    with pytest.raises(ValidationError) as caught:
        DashboardService(db, panel_timeout_seconds=budget)  # type: ignore[arg-type]
    assert_names(caught.value, "panel_timeout_seconds")
    assert not db._per_loop


@pytest.mark.parametrize("bad", SOME_BAD_IDS)
async def test_user_dashboard_rejects_malformed_user_ids(db: Database, bad: object) -> None:
    service = DashboardService(db)
    await rejected_before_io(db, lambda: service.get_user_dashboard(bad), "user_id")


@pytest.mark.parametrize("bad", [p for p in BAD_DAYS if p.id != "none"])
async def test_user_dashboard_rejects_bad_days_before_any_io(db: Database, bad: object) -> None:
    """The day used to be checked in one of the four concurrent loads, after the others
    had reached the database."""
    service = DashboardService(db)
    await rejected_before_io(db, lambda: service.get_user_dashboard(NIL, on=bad), "on")


@pytest.mark.parametrize("bad", BAD_LIMITS)
async def test_user_dashboard_rejects_bad_limits_before_any_io(db: Database, bad: object) -> None:
    service = DashboardService(db)
    await rejected_before_io(db, lambda: service.get_user_dashboard(NIL, limit=bad), "limit")


# -- extract_frame ----------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "params", "field"), EXTRACT_CASES)
async def test_extract_frame_rejects_bad_queries_and_params(
    db: Database, query: object, params: object, field: str
) -> None:
    await rejected_before_io(db, lambda: extract_frame(db, query, params), field)  # type: ignore[arg-type]


# -- reports.check_parameters -----------------------------------------------------------------


@pytest.mark.parametrize(("raw", "field"), without(REPORT_CASES, REPORT_CASES_AFTER_CONNECTING))
async def test_check_parameters_rejects_bad_input(
    db_with_today: Database, raw: object, field: str | None
) -> None:
    """Malformed parameters are refused before any I/O (the reversed range, malformed
    user ids and mediums used to reach the database first). GALLERY_TODAY is set because
    a case with a missing date needs "today"; the cases only a database can refuse stay
    in the integration suite (REPORT_CASES_AFTER_CONNECTING)."""
    await rejected_before_io(db_with_today, lambda: check_parameters(db_with_today, raw), field)  # type: ignore[arg-type]


# -- the CLI ----------------------------------------------------------------------------------


def test_nul_cannot_reach_the_cli() -> None:
    """A NUL cannot be passed in argv at all: the OS (and subprocess) refuse it, so the
    CLI never sees one; the library entry points above are where NUL is tested."""
    with pytest.raises(ValueError, match="null byte"):
        run_cli("report", "--param", "medium=Print\x00")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"start": "2024-05-01", "end": "2024-01-01"}, "end"),
        ({"start": "2024-01-01", "end": "2024-12-31", "user_id": "' OR 1=1 --"}, "user_id"),
        ({"start": "2024-01-01", "end": "2024-12-31", "medium": "a\x00b"}, "mediums.0"),
    ],
)
async def test_check_parameters_with_both_dates_reads_no_today_before_refusing(
    db: Database, raw: dict[str, str], field: str
) -> None:
    """With both dates given there is no default period to compute, so "today" (which
    needs the database) is not read first: without GALLERY_TODAY these reached the
    database before being refused."""
    await rejected_before_io(db, lambda: check_parameters(db, raw), field)
