"""The gallery-overview panels' SQL: one aggregate query per panel, named as the panel.

Each function turns :class:`OverviewFilters` into a SQLAlchemy statement; what a panel
is called, the columns it returns and how it is drawn are declared once, in
:mod:`gallery_analytics.panels`. All aggregation happens in PostgreSQL (GROUP BY,
date_trunc, window functions); Python only receives the handful of summary rows a chart
needs. Filter values are always bound parameters.

Money is summed in the filters' currency: each amount is converted at the rate of its own
month (:class:`ExchangeRate`): a sale's price at its sale month (:func:`converted_sales`),
an artwork's list price (kept in the base currency) at its acquisition month
(:func:`_list_price`). An amount that cannot be converted (no rate for that month) is
left out of the sums and returned by the panel's :class:`Exclusion` query, which the
service turns into the panel's note.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    extract,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from gallery_analytics.db.models import (
    LIST_PRICE_CURRENCY,
    RATE_BASE_CURRENCY,
    Artist,
    Artwork,
    ExchangeRate,
    Exhibition,
    ExhibitionArtwork,
    ExhibitionVisit,
    Sale,
    rollup_artworks_monthly,
    rollup_exhibition_works,
    rollup_sales_daily,
    rollup_sales_monthly,
    rollup_visits_weekly,
)
from gallery_analytics.domain.enums import OTHER_MEDIUM, UNKNOWN
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.errors import ValidationError

PanelQuery = Select[*tuple[Any, ...]]
TOP_MEDIUMS = 12


# -- shared conditions ----------------------------------------------------------------------


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _in_range(
    column: InstrumentedAttribute[dt.datetime] | InstrumentedAttribute[dt.datetime | None],
    filters: OverviewFilters,
) -> list[ColumnElement[bool]]:
    """Timestamp within [start 00:00, end + 1 day 00:00) UTC: whole days, index-friendly."""
    conditions: list[ColumnElement[bool]] = []
    if filters.start is not None:
        conditions.append(column >= _day_start(filters.start))
    if filters.end is not None:
        conditions.append(column < _day_start(filters.end + dt.timedelta(days=1)))
    return conditions


def _artwork_conditions(filters: OverviewFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.mediums:
        conditions.append(Artwork.medium.in_(filters.mediums))
    if filters.status is not None:
        conditions.append(Artwork.status == filters.status)
    if filters.user_id is not None:
        conditions.append(Artwork.owner_id == filters.user_id)
    if filters.artist_id is not None:
        conditions.append(Artwork.artist_id == filters.artist_id)
    return conditions


def _filters_artworks(filters: OverviewFilters) -> bool:
    return (
        bool(filters.mediums)
        or filters.status is not None
        or filters.user_id is not None
        or filters.artist_id is not None
    )


def _sales(filters: OverviewFilters) -> list[ColumnElement[bool]]:
    """The sales a load covers, in every currency (conversion decides what is summed)."""
    conditions = _in_range(Sale.sold_at, filters)
    if _filters_artworks(filters):
        conditions.append(
            exists().where(Artwork.id == Sale.artwork_id, *_artwork_conditions(filters))
        )
    return conditions


def _rate_month(timestamp: Any) -> ColumnElement[dt.date]:
    """The month whose rate converts an amount dated ``timestamp`` (UTC sessions)."""
    return cast(func.date_trunc("month", timestamp), Date)


def _converted(
    amount: Any, currency: Any, month: Any, filters: OverviewFilters
) -> tuple[ColumnElement[Any], Callable[[PanelQuery], PanelQuery]]:
    """The one conversion rule: ``amount`` (in ``currency``, of ``month``) in
    ``filters.currency``, NULL when no rate converts it; and the function that joins the
    rates it reads to a statement.

    ``amount * (rate(currency) / rate(chosen currency))``, each rate what one unit was
    worth in the base currency that month (the base itself is 1, and an amount already in
    the chosen currency needs no rate), in ``numeric``. The amount is multiplied by one
    factor per currency and month: numeric multiplication and addition are exact, so a sum
    converted sale by sale, per artist and month or from a rollup's monthly sum is the
    same number to the last digit (a division of each amount would round each one).
    """
    source = aliased(ExchangeRate, name="source_rate")
    target = aliased(ExchangeRate, name="target_rate")
    to_base = case((currency == RATE_BASE_CURRENCY, literal(1)), else_=source.rate)
    factor = to_base if filters.currency == RATE_BASE_CURRENCY else to_base / target.rate
    converted = case((currency == filters.currency, amount), else_=amount * factor)

    def join_rates(statement: PanelQuery) -> PanelQuery:
        statement = statement.outerjoin(
            source, (source.currency == currency) & (source.month == month)
        )
        if filters.currency != RATE_BASE_CURRENCY:
            statement = statement.outerjoin(
                target, (target.currency == filters.currency) & (target.month == month)
            )
        return statement

    return converted, join_rates


def converted_sales(filters: OverviewFilters) -> Subquery:
    """The load's sales, one row each, with ``amount``: the price in ``filters.currency``
    at the rate of the sale's month (``rate_month``), or NULL when no rate converts it
    (the rows behind the money panels, e.g. for a download)."""
    month = _rate_month(Sale.sold_at)
    amount, join_rates = _converted(Sale.price, Sale.currency, month, filters)
    statement = select(
        Sale.id,
        Sale.artwork_id,
        Sale.sold_at,
        Sale.currency,
        Sale.price,
        month.label("rate_month"),
        amount.label("amount"),
    ).where(*_sales(filters))
    return join_rates(statement).subquery("converted_sales")


# -- where the sums come from: rollups or base tables -----------------------------------------
#
# Every money and count panel sums "groups": rows at a grain fine enough for its output
# and its conversion (a currency and a month at least). The groups come from the rollups
# of migration 0006 (whole months or weeks from the coarse rollup, the partial first and
# last ones from a finer source) or, as the reference, from the base tables; the panel
# SQL on top is the same, so both give the same rows to the last digit.

_USE_ROLLUPS: ContextVar[bool] = ContextVar("gallery_overview_rollups", default=True)


@contextmanager
def base_tables_only() -> Iterator[None]:
    """Within this block (this task and the tasks it starts), panel queries read the base
    tables, never the rollups: the reference the rollups are tested and benchmarked
    against."""
    token = _USE_ROLLUPS.set(False)
    try:
        yield
    finally:
        _USE_ROLLUPS.reset(token)


DayRange = tuple[dt.date | None, dt.date | None]
"""Days ``[first, until)``; None: unbounded on that side."""


class _Split(NamedTuple):
    """A filters' date range cut into whole periods (``whole``, None: none) and the days
    around them (``edges``) that a finer source answers."""

    whole: DayRange | None
    edges: tuple[DayRange, ...]


def _split(
    filters: OverviewFilters,
    period_start: Callable[[dt.date], dt.date],
    next_period: Callable[[dt.date], dt.date],
) -> _Split:
    start, end = filters.start, filters.end
    until = None if end is None else end + dt.timedelta(days=1)
    first: dt.date | None = None
    if start is not None:
        try:
            first = start if period_start(start) == start else next_period(start)
        except OverflowError:  # a start in the calendar's last period
            return _Split(None, ((start, until),))
    last = None if until is None else period_start(until)
    if first is not None and last is not None and first >= last:
        return _Split(None, ((start, until),))
    edges: list[DayRange] = []
    if start is not None and first is not None and start < first:
        edges.append((start, first))
    if until is not None and last is not None and last < until:
        edges.append((last, until))
    return _Split((first, last), tuple(edges))


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _next_week(day: dt.date) -> dt.date:
    return _week_start(day) + dt.timedelta(days=7)


def _in_days(column: Any, days: DayRange) -> list[ColumnElement[bool]]:
    first, until = days
    conditions: list[ColumnElement[bool]] = []
    if first is not None:
        conditions.append(column >= first)
    if until is not None:
        conditions.append(column < until)
    return conditions


def _in_any(column: Any, ranges: tuple[DayRange, ...]) -> ColumnElement[bool]:
    return or_(*(and_(true(), *_in_days(column, days)) for days in ranges))


def _rollup_artwork_conditions(table: Any, filters: OverviewFilters) -> list[ColumnElement[bool]]:
    """:func:`_artwork_conditions` on a rollup's copy of the artwork's columns."""
    conditions: list[ColumnElement[bool]] = []
    if filters.mediums:
        conditions.append(table.c.medium.in_(filters.mediums))
    if filters.status is not None:
        conditions.append(table.c.status == filters.status)
    if filters.user_id is not None:
        conditions.append(table.c.owner_id == filters.user_id)
    if filters.artist_id is not None:
        conditions.append(table.c.artist_id == filters.artist_id)
    return conditions


def _groups(parts: list[PanelQuery]) -> Subquery:
    """The rows of ``parts`` as one source. Not summed again: every consumer sums the
    groups itself, and converting is exact per row, so summing twice would only cost."""
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("groups")


def _sales_groups(filters: OverviewFilters, *, by_artist: bool) -> Subquery:
    """The load's sales in rows of one ``currency`` and ``rate_month`` (and ``artist_id``;
    a key may recur, consumers sum): ``sales`` (a count) and ``price`` (in ``currency``)."""
    if not _USE_ROLLUPS.get():
        month = _rate_month(Sale.sold_at).label("rate_month")
        columns: list[ColumnElement[Any]] = [Sale.currency.label("currency"), month]
        statement = select()
        if by_artist:
            columns.append(Artwork.artist_id.label("artist_id"))
            statement = statement.select_from(Sale).join(Artwork, Artwork.id == Sale.artwork_id)
            statement = statement.where(
                *_in_range(Sale.sold_at, filters), *_artwork_conditions(filters)
            )
        else:
            statement = statement.select_from(Sale).where(*_sales(filters))
        return _groups(
            [
                statement.add_columns(
                    *columns, func.count().label("sales"), func.sum(Sale.price).label("price")
                ).group_by(*columns)
            ]
        )
    daily = rollup_sales_daily
    parts: list[PanelQuery] = []
    split = _split(filters, _month_start, _next_month)
    ranges: tuple[DayRange, ...] = (
        (filters.start, None if filters.end is None else filters.end + dt.timedelta(days=1)),
    )
    if not by_artist and filters.user_id is None and filters.artist_id is None:
        ranges = split.edges
        if split.whole is not None:
            monthly = rollup_sales_monthly
            parts.append(
                select(
                    monthly.c.currency,
                    monthly.c.month.label("rate_month"),
                    monthly.c.sales,
                    monthly.c.price,
                ).where(
                    *_rollup_artwork_conditions(monthly, filters),
                    *_in_days(monthly.c.month, split.whole),
                )
            )
    if ranges:
        # The month of the day, stored (migration 0009): not computed per row read.
        month = daily.c.month.label("rate_month")
        parts.append(
            select(
                daily.c.currency,
                month,
                *((daily.c.artist_id,) if by_artist else ()),
                daily.c.sales,
                daily.c.price,
            ).where(*_rollup_artwork_conditions(daily, filters), _in_any(daily.c.day, ranges))
        )
    return _groups(parts)


def _artwork_groups(filters: OverviewFilters) -> Subquery:
    """The load's artworks in rows of one acquisition ``rate_month`` (NULL: undated),
    ``medium`` and ``status`` (a key may recur, consumers sum): ``artworks``, ``priced``
    (those with a list price) and ``list_price`` (their sum, in
    :data:`LIST_PRICE_CURRENCY`)."""

    def base(days: tuple[DayRange, ...] | None) -> PanelQuery:
        month = _rate_month(Artwork.acquired_at).label("rate_month")
        columns: list[ColumnElement[Any]] = [
            month,
            Artwork.medium.label("medium"),
            Artwork.status.label("status"),
        ]
        statement = select(
            *columns,
            func.count().label("artworks"),
            func.count(Artwork.list_price).label("priced"),
            func.coalesce(func.sum(Artwork.list_price), 0).label("list_price"),
        ).where(*_artwork_conditions(filters))
        if days is None:
            statement = statement.where(*_in_range(Artwork.acquired_at, filters))
        else:
            statement = statement.where(
                or_(
                    *(
                        and_(
                            true(),
                            *_in_days(
                                Artwork.acquired_at,
                                (
                                    None if first is None else _day_start(first),
                                    None if until is None else _day_start(until),
                                ),
                            ),
                        )
                        for first, until in days
                    )
                )
            )
        return statement.group_by(*columns)

    if not _USE_ROLLUPS.get() or filters.user_id is not None or filters.artist_id is not None:
        return _groups([base(None)])
    split = _split(filters, _month_start, _next_month)
    parts: list[PanelQuery] = []
    if split.whole is not None:
        rollup = rollup_artworks_monthly
        parts.append(
            select(
                rollup.c.month.label("rate_month"),
                rollup.c.medium,
                rollup.c.status,
                rollup.c.artworks,
                rollup.c.priced,
                rollup.c.list_price,
            ).where(
                *_rollup_artwork_conditions(rollup, filters),
                *_in_days(rollup.c.month, split.whole),
            )
        )
    if split.edges:
        parts.append(base(split.edges))
    return _groups(parts)


def _visit_groups(filters: OverviewFilters) -> Subquery:
    """The load's visits per ``week`` (its Monday) and ``exhibition_id``: ``visitors``.
    One row per exhibition with a visit row in that week (and the period)."""

    def matching(exhibition_id: Any) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if filters.user_id is not None:
            conditions.append(
                exhibition_id.in_(
                    select(Exhibition.id).where(Exhibition.curator_id == filters.user_id)
                )
            )
        shows_matching = _shows_matching_artworks(exhibition_id, filters)
        if shows_matching is not None:
            conditions.append(shows_matching)
        return conditions

    def base(days: tuple[DayRange, ...]) -> PanelQuery:
        week = cast(func.date_trunc("week", ExhibitionVisit.day), Date).label("week")
        columns: list[ColumnElement[Any]] = [
            week,
            ExhibitionVisit.exhibition_id.label("exhibition_id"),
        ]
        return (
            select(*columns, func.sum(ExhibitionVisit.visitors).label("visitors"))
            .where(_in_any(ExhibitionVisit.day, days), *matching(ExhibitionVisit.exhibition_id))
            .group_by(*columns)
        )

    everything: tuple[DayRange, ...] = (
        (filters.start, None if filters.end is None else filters.end + dt.timedelta(days=1)),
    )
    if not _USE_ROLLUPS.get():
        return _groups([base(everything)])
    split = _split(filters, _week_start, _next_week)
    parts: list[PanelQuery] = []
    if split.whole is not None:
        rollup = rollup_visits_weekly
        parts.append(
            select(rollup.c.week, rollup.c.exhibition_id, rollup.c.visitors).where(
                *_in_days(rollup.c.week, split.whole), *matching(rollup.c.exhibition_id)
            )
        )
    if split.edges:
        parts.append(base(split.edges))
    return _groups(parts)


def _sales_in_currency(filters: OverviewFilters) -> Subquery:
    """The load's sales summed per currency and rate month: ``sales``, ``price`` (in
    ``currency``) and ``amount``, that sum in ``filters.currency`` or NULL when no rate
    converts it (key figures, monthly revenue and the excluded sales)."""
    per_month = _sales_groups(filters, by_artist=False)
    amount, join_rates = _converted(
        per_month.c.price, per_month.c.currency, per_month.c.rate_month, filters
    )
    statement = select(per_month, amount.label("amount")).select_from(per_month)
    return join_rates(statement).subquery("sales_in_currency")


def excluded_sales(filters: OverviewFilters) -> PanelQuery:
    """The sales the money panels leave out for want of a rate: per currency and month,
    how many and their total in their own currency (the note's facts)."""
    sales = _sales_in_currency(filters)
    return (
        select(
            sales.c.currency,
            sales.c.rate_month.label("month"),
            cast(func.sum(sales.c.sales), BigInteger).label("count"),
            func.sum(sales.c.price).label("amount"),
        )
        .where(sales.c.amount.is_(None))
        .group_by(sales.c.currency, sales.c.rate_month)
        .order_by(sales.c.currency, sales.c.rate_month)
    )


def _list_prices(filters: OverviewFilters) -> tuple[Subquery, ColumnElement[Any], PanelQuery]:
    """The load's artwork groups (:func:`_artwork_groups`), their list price sum in
    ``filters.currency`` (NULL when no rate converts it), and a statement over the groups
    with the rate it needs joined.

    List prices are kept in the base currency (:data:`LIST_PRICE_CURRENCY`) and
    converted at the rate of the acquisition month; in the base currency no rate is
    needed, so an undated work's price converts only there.
    """
    groups = _artwork_groups(filters)
    amount, join_rates = _converted(
        groups.c.list_price, literal(LIST_PRICE_CURRENCY), groups.c.rate_month, filters
    )
    return groups, amount, join_rates(select().select_from(groups))


def _excluded_list_prices(filters: OverviewFilters, *, dated_only: bool) -> PanelQuery:
    groups, amount, statement = _list_prices(filters)
    month = groups.c.rate_month.label("month")
    statement = statement.add_columns(
        literal(LIST_PRICE_CURRENCY, String).label("currency"),
        month,
        cast(func.sum(groups.c.priced), BigInteger).label("count"),
        func.sum(groups.c.list_price).label("amount"),
    ).where(groups.c.priced > 0, amount.is_(None))
    if dated_only:
        statement = statement.where(groups.c.rate_month.is_not(None))
    return statement.group_by(groups.c.rate_month).order_by(groups.c.rate_month)


def excluded_list_prices(filters: OverviewFilters) -> PanelQuery:
    """The list prices ``artworks_by_medium_status`` leaves out for want of a rate (per
    acquisition month, NULL for works with no acquisition date), in the base currency."""
    return _excluded_list_prices(filters, dated_only=False)


def excluded_dated_list_prices(filters: OverviewFilters) -> PanelQuery:
    """The list prices ``acquisitions_per_year`` (dated works only) leaves out."""
    return _excluded_list_prices(filters, dated_only=True)


class Exclusion(NamedTuple):
    """What a money panel may leave out for want of an exchange rate: the query of those
    amounts (rows of ``currency``, ``month``, ``count``, ``amount``) and what they are
    called in the panel's note ("12 sales", "1 artwork's list price")."""

    query: Callable[[OverviewFilters], PanelQuery]
    one: str
    many: str


SALES_WITHOUT_RATE = Exclusion(excluded_sales, "sale", "sales")
LIST_PRICES_WITHOUT_RATE = Exclusion(
    excluded_list_prices, "artwork's list price", "artworks' list prices"
)
DATED_LIST_PRICES_WITHOUT_RATE = Exclusion(
    excluded_dated_list_prices, "artwork's list price", "artworks' list prices"
)


# -- panel queries --------------------------------------------------------------------------


def monthly_revenue(filters: OverviewFilters) -> PanelQuery:
    sales = _sales_in_currency(filters)
    # The month's first instant, UTC (the session's zone): date_trunc of the sale times.
    month = cast(sales.c.rate_month, DateTime(timezone=True)).label("month")
    count = cast(func.sum(sales.c.sales), BigInteger)
    return (
        select(
            month,
            count.label("sales"),
            cast(func.sum(sales.c.amount), Float).label("revenue"),
            # Float division for reproducibility (see top_artists).
            (cast(func.sum(sales.c.amount), Float) / count).label("average_price"),
        )
        .where(sales.c.amount.is_not(None))
        .group_by(sales.c.rate_month)
        .order_by(sales.c.rate_month)
    )


def top_artists(filters: OverviewFilters) -> PanelQuery:
    # Summed per artist first (the artists joined to those sums only), each row of sales
    # converted at its currency and month (one exact factor: the same as converting sale
    # by sale).
    groups = _sales_groups(filters, by_artist=True)
    amount, join_rates = _converted(groups.c.price, groups.c.currency, groups.c.rate_month, filters)
    per_artist = (
        join_rates(
            select(
                groups.c.artist_id,
                cast(func.sum(groups.c.sales), BigInteger).label("sales"),
                func.sum(amount).label("revenue"),
            ).select_from(groups)
        )
        .where(amount.is_not(None))
        .group_by(groups.c.artist_id)
        .subquery("per_artist")
    )
    revenue = per_artist.c.revenue
    return (
        select(
            func.rank().over(order_by=revenue.desc()).label("rank"),
            Artist.id.label("artist_id"),
            Artist.name.label("artist"),
            Artist.nationality,
            per_artist.c.sales,
            cast(revenue, Float).label("revenue"),
            # Divided as floats: numeric division picks its result scale from the
            # operands' internal form, which parallel aggregation can vary in the last
            # digit; float division of exact-converted sums is reproducible.
            (cast(revenue, Float) / func.nullif(cast(func.sum(revenue).over(), Float), 0)).label(
                "share"
            ),
        )
        .join_from(per_artist, Artist, Artist.id == per_artist.c.artist_id)
        # Artists of one name and revenue in id order, so every run lists the same ones.
        .order_by(revenue.desc(), Artist.name, Artist.id)
        .limit(filters.top_n)
    )


def artworks_by_medium_status(filters: OverviewFilters) -> PanelQuery:
    """Counts per medium and status; mediums beyond the top 12 are folded into "Other"."""
    groups, list_price, statement = _list_prices(filters)
    medium = func.coalesce(groups.c.medium, UNKNOWN)
    counts = (
        statement.add_columns(
            medium.label("medium"),
            cast(groups.c.status, String).label("status"),
            func.sum(groups.c.artworks).label("artworks"),
            func.coalesce(func.sum(list_price), 0).label("list_value"),
        )
        .group_by(medium, groups.c.status)
        .cte("counts")
    )
    ranked = (
        select(
            counts.c.medium,
            func.row_number()
            .over(order_by=(func.sum(counts.c.artworks).desc(), counts.c.medium))
            .label("position"),
        )
        .group_by(counts.c.medium)
        .cte("ranked")
    )
    bucket = case(
        (ranked.c.position <= TOP_MEDIUMS, counts.c.medium), else_=literal(OTHER_MEDIUM)
    ).label("medium")
    return (
        select(
            bucket,
            counts.c.status,
            cast(func.sum(counts.c.artworks), Integer).label("artworks"),
            cast(func.sum(counts.c.list_value), Float).label("list_value"),
        )
        .join_from(counts, ranked, ranked.c.medium == counts.c.medium)
        .group_by(bucket, counts.c.status)
        .order_by(func.min(ranked.c.position), counts.c.status)
    )


def acquisitions_per_year(filters: OverviewFilters) -> PanelQuery:
    groups, list_price, statement = _list_prices(filters)
    year = cast(extract("year", groups.c.rate_month), Integer).label("year")
    return (
        statement.add_columns(
            year,
            cast(func.sum(groups.c.artworks), BigInteger).label("artworks"),
            cast(func.coalesce(func.sum(list_price), 0), Float).label("list_value"),
        )
        .where(groups.c.rate_month.is_not(None))
        .group_by(year)
        .order_by(year)
    )


def exhibition_attendance(filters: OverviewFilters) -> PanelQuery:
    visits = _visit_groups(filters)
    return (
        select(
            visits.c.week,
            cast(func.sum(visits.c.visitors), Integer).label("visitors"),
            # One group per exhibition with a visit row in the week: the shows open.
            func.count().label("exhibitions_open"),
        )
        .group_by(visits.c.week)
        .order_by(visits.c.week)
    )


def _shows_matching_artworks(
    exhibition_id: Any, filters: OverviewFilters
) -> ColumnElement[bool] | None:
    """EXISTS an exhibited artwork of the chosen mediums/status/artist (None: no such
    filter).

    For exhibitions the user filter means "curated by", handled by the callers. Without
    an artist filter the links' mediums and statuses come from
    ``rollup_exhibition_works`` (migration 0008), not from a join to every artwork.
    """
    if not filters.mediums and filters.status is None and filters.artist_id is None:
        return None
    if _USE_ROLLUPS.get() and filters.artist_id is None:
        works = rollup_exhibition_works
        return (
            select(works.c.exhibition_id)
            .where(
                works.c.exhibition_id == exhibition_id,
                *_rollup_artwork_conditions(works, filters.model_copy(update={"user_id": None})),
            )
            .exists()
        )
    shown = _artwork_conditions(filters.model_copy(update={"user_id": None}))
    return (
        select(ExhibitionArtwork.exhibition_id)
        .join(Artwork, Artwork.id == ExhibitionArtwork.artwork_id)
        .where(ExhibitionArtwork.exhibition_id == exhibition_id, *shown)
        .exists()
    )


def artists_by_nationality_gender(filters: OverviewFilters) -> PanelQuery:
    nationality = func.coalesce(Artist.nationality, UNKNOWN).label("nationality")
    gender = func.coalesce(Artist.gender, UNKNOWN.lower()).label("gender")
    statement = select(nationality, gender, func.count().label("artists"))
    if filters.user_id is not None:
        statement = statement.where(Artist.owner_id == filters.user_id)
    if filters.artist_id is not None:
        statement = statement.where(Artist.id == filters.artist_id)
    if filters.mediums or filters.status is not None or filters.start or filters.end:
        work_filters = filters.model_copy(update={"user_id": None})
        statement = statement.where(
            exists().where(
                Artwork.artist_id == Artist.id,
                *_artwork_conditions(work_filters),
                *_in_range(Artwork.acquired_at, work_filters),
            )
        )
    return statement.group_by(nationality, gender).order_by(
        func.count().desc(), nationality, gender
    )


def key_figures(filters: OverviewFilters) -> PanelQuery:
    """One row of headline numbers (the KPI tiles)."""
    works = _artwork_groups(filters)
    artworks = select(cast(func.coalesce(func.sum(works.c.artworks), 0), BigInteger))
    sales = _sales_in_currency(filters)
    revenue = select(func.coalesce(func.sum(sales.c.amount), 0)).where(sales.c.amount.is_not(None))
    # Exhibitions open at some point in the period; with no dates at all, open on the
    # workbench's today (filled in by the service from Database.today(), never the
    # server's clock, so the tile agrees with the user dashboard and the demo data).
    shows = select(func.count()).select_from(Exhibition)
    if filters.start is None and filters.end is None:
        if filters.today is None:
            raise ValidationError(
                "today",
                "key figures without start or end count exhibitions open today; "
                "give filters a today (DashboardService fills in Database.today())",
            )
        shows = shows.where(
            Exhibition.starts_on <= filters.today, Exhibition.ends_on >= filters.today
        )
    if filters.start is not None:
        shows = shows.where(Exhibition.ends_on >= filters.start)
    if filters.end is not None:
        shows = shows.where(Exhibition.starts_on <= filters.end)
    shows_matching = _shows_matching_artworks(Exhibition.id, filters)
    if shows_matching is not None:
        shows = shows.where(shows_matching)
    if filters.user_id is not None:
        shows = shows.where(Exhibition.curator_id == filters.user_id)
    visits = _visit_groups(filters)
    visitors = select(func.coalesce(func.sum(visits.c.visitors), 0))
    return select(
        artworks.scalar_subquery().label("artworks"),
        cast(revenue.scalar_subquery(), Float).label("revenue"),
        shows.scalar_subquery().label("active_exhibitions"),
        cast(visitors.scalar_subquery(), Integer).label("visitors"),
    )
