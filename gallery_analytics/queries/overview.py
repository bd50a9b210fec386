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
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    case,
    cast,
    distinct,
    exists,
    extract,
    func,
    literal,
    select,
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

    ``amount * rate(currency) / rate(chosen currency)``, each rate what one unit was
    worth in the base currency that month (the base itself is 1, and an amount already in
    the chosen currency needs no rate), in ``numeric``.
    """
    source = aliased(ExchangeRate, name="source_rate")
    target = aliased(ExchangeRate, name="target_rate")
    in_base = amount * case((currency == RATE_BASE_CURRENCY, literal(1)), else_=source.rate)
    to_target = in_base if filters.currency == RATE_BASE_CURRENCY else in_base / target.rate
    converted = case((currency == filters.currency, amount), else_=to_target)

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


def _sales_in_currency(filters: OverviewFilters) -> Subquery:
    """The load's sales summed per currency and rate month: ``sales``, ``price`` (in
    ``currency``) and ``amount``, that sum in ``filters.currency`` or NULL when no rate
    converts it (key figures, monthly revenue and the excluded sales).

    Converting each month's exact ``numeric`` sum rather than each sale reads the rates
    once per month, and the sums stay the same however PostgreSQL parallelises them.
    """
    month = _rate_month(Sale.sold_at)
    per_month = (
        select(
            Sale.currency.label("currency"),
            month.label("rate_month"),
            func.count().label("sales"),
            func.sum(Sale.price).label("price"),
        )
        .where(*_sales(filters))
        .group_by(Sale.currency, month)
        .subquery("sales_per_month")
    )
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


def _list_price(filters: OverviewFilters) -> tuple[ColumnElement[Any], PanelQuery]:
    """An artwork's list price in ``filters.currency`` (NULL when no rate converts it),
    and the artworks of the filters with the rate it needs joined.

    List prices are kept in the base currency (:data:`LIST_PRICE_CURRENCY`) and
    converted at the rate of the acquisition month; in the base currency no rate is
    needed, so an undated work's price converts only there.
    """
    amount, join_rates = _converted(
        Artwork.list_price,
        literal(LIST_PRICE_CURRENCY),
        _rate_month(Artwork.acquired_at),
        filters,
    )
    return amount, join_rates(select().select_from(Artwork))


def _excluded_list_prices(filters: OverviewFilters, *, dated_only: bool) -> PanelQuery:
    amount, artworks = _list_price(filters)
    month = _rate_month(Artwork.acquired_at).label("month")
    statement = artworks.add_columns(
        literal(LIST_PRICE_CURRENCY, String).label("currency"),
        month,
        func.count().label("count"),
        func.sum(Artwork.list_price).label("amount"),
    ).where(
        Artwork.list_price.is_not(None),
        amount.is_(None),
        *_artwork_conditions(filters),
        *_in_range(Artwork.acquired_at, filters),
    )
    if dated_only:
        statement = statement.where(Artwork.acquired_at.is_not(None))
    return statement.group_by(month).order_by(month)


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
    # Converted sale by sale: per artist there are hardly two sales in a month, so summing
    # per month first would save nothing.
    amount, join_rates = _converted(Sale.price, Sale.currency, _rate_month(Sale.sold_at), filters)
    revenue = func.sum(amount)
    statement = (
        select(
            func.rank().over(order_by=revenue.desc()).label("rank"),
            Artist.id.label("artist_id"),
            Artist.name.label("artist"),
            Artist.nationality,
            func.count().label("sales"),
            cast(revenue, Float).label("revenue"),
            # Divided as floats: numeric division picks its result scale from the
            # operands' internal form, which parallel aggregation can vary in the last
            # digit; float division of exact-converted sums is reproducible.
            (cast(revenue, Float) / func.nullif(cast(func.sum(revenue).over(), Float), 0)).label(
                "share"
            ),
        )
        .select_from(Sale)
        .join(Artwork, Artwork.id == Sale.artwork_id)
        .join(Artist, Artist.id == Artwork.artist_id)
    )
    return (
        join_rates(statement)
        .where(*_in_range(Sale.sold_at, filters), *_artwork_conditions(filters))
        .where(amount.is_not(None))
        .group_by(Artist.id, Artist.name, Artist.nationality)
        .order_by(revenue.desc(), Artist.name)
        .limit(filters.top_n)
    )


def artworks_by_medium_status(filters: OverviewFilters) -> PanelQuery:
    """Counts per medium and status; mediums beyond the top 12 are folded into "Other"."""
    medium = func.coalesce(Artwork.medium, UNKNOWN)
    list_price, artworks = _list_price(filters)
    counts = (
        artworks.add_columns(
            medium.label("medium"),
            cast(Artwork.status, String).label("status"),
            func.count().label("artworks"),
            func.coalesce(func.sum(list_price), 0).label("list_value"),
        )
        .where(*_artwork_conditions(filters), *_in_range(Artwork.acquired_at, filters))
        .group_by(medium, Artwork.status)
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
    year = cast(extract("year", Artwork.acquired_at), Integer).label("year")
    list_price, artworks = _list_price(filters)
    return (
        artworks.add_columns(
            year,
            func.count().label("artworks"),
            cast(func.coalesce(func.sum(list_price), 0), Float).label("list_value"),
        )
        .where(Artwork.acquired_at.is_not(None))
        .where(*_artwork_conditions(filters), *_in_range(Artwork.acquired_at, filters))
        .group_by(year)
        .order_by(year)
    )


def exhibition_attendance(filters: OverviewFilters) -> PanelQuery:
    week = cast(func.date_trunc("week", ExhibitionVisit.day), Date).label("week")
    statement = select(
        week,
        cast(func.sum(ExhibitionVisit.visitors), Integer).label("visitors"),
        func.count(distinct(ExhibitionVisit.exhibition_id)).label("exhibitions_open"),
    )
    if filters.start is not None:
        statement = statement.where(ExhibitionVisit.day >= filters.start)
    if filters.end is not None:
        statement = statement.where(ExhibitionVisit.day <= filters.end)
    if filters.user_id is not None:
        statement = statement.where(
            exists().where(
                Exhibition.id == ExhibitionVisit.exhibition_id,
                Exhibition.curator_id == filters.user_id,
            )
        )
    shows_matching = _shows_matching_artworks(ExhibitionVisit.exhibition_id, filters)
    if shows_matching is not None:
        statement = statement.where(shows_matching)
    return statement.group_by(week).order_by(week)


def _shows_matching_artworks(
    exhibition_id: InstrumentedAttribute[str], filters: OverviewFilters
) -> ColumnElement[bool] | None:
    """EXISTS an exhibited artwork of the chosen mediums/status/artist (None: no such
    filter).

    For exhibitions the user filter means "curated by", handled by the callers.
    """
    if not filters.mediums and filters.status is None and filters.artist_id is None:
        return None
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
    artworks = (
        select(func.count())
        .select_from(Artwork)
        .where(*_artwork_conditions(filters), *_in_range(Artwork.acquired_at, filters))
        .scalar_subquery()
    )
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
    visits = select(func.coalesce(func.sum(ExhibitionVisit.visitors), 0)).select_from(
        ExhibitionVisit
    )
    if filters.start is not None:
        visits = visits.where(ExhibitionVisit.day >= filters.start)
    if filters.end is not None:
        visits = visits.where(ExhibitionVisit.day <= filters.end)
    shows_matching = _shows_matching_artworks(Exhibition.id, filters)
    visits_matching = _shows_matching_artworks(ExhibitionVisit.exhibition_id, filters)
    if shows_matching is not None and visits_matching is not None:
        shows = shows.where(shows_matching)
        visits = visits.where(visits_matching)
    if filters.user_id is not None:
        shows = shows.where(Exhibition.curator_id == filters.user_id)
        visits = visits.where(
            ExhibitionVisit.exhibition_id.in_(
                select(Exhibition.id).where(Exhibition.curator_id == filters.user_id)
            )
        )
    return select(
        artworks.label("artworks"),
        cast(revenue.scalar_subquery(), Float).label("revenue"),
        shows.scalar_subquery().label("active_exhibitions"),
        cast(visits.scalar_subquery(), Integer).label("visitors"),
    )
