"""Filters of the gallery overview, validated before any query runs.

Checks that need no database (types, ranges, enum values) happen when the object is
built; checks that do (does this medium exist? this user?) happen in the service,
in one query, before the panels start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.domain.values import (
    CheckedModel,
    CurrencyCode,
    NonBlankText,
    build,
    date_range_problem,
    parse_id,
    reject_awaitable,
)
from gallery_analytics.errors import ValidationError

MediumName = NonBlankText

# The parameters of the report notebook (``--param KEY=VALUE``, papermill): the overview's
# filters as text. Here, not in reports.py, so the CLI lists them without the notebook extra.
REPORT_PARAMETERS = ("start", "end", "user_id", "artist_id", "medium", "status", "currency")
# The OverviewFilters fields that are deliberately no report parameter, and why. Every
# other field is one (ReportParameters.from_filters carries it), so a report shows what
# the filters show; a unit test fails when a new field is in neither place.
NOT_REPORT_PARAMETERS = {
    "top_n": "the report ranks the top 10 artists (the default); filters asking for "
    "another number are refused by ReportParameters.from_filters rather than dropped",
    "today": "it only says which day 'open now' means when there is no start or end, and "
    "a report always has both (the default period fills them in)",
}


def default_period(today: dt.date) -> tuple[dt.date, dt.date]:
    """The period the dashboard and the report show when none is given: the last full
    calendar year before ``today`` (the workbench's today, ``Database.today()``; for the
    demo data, whose today is 2025-11-15, that is 2024)."""
    reject_awaitable(today, field="today")
    if isinstance(today, dt.datetime) or not isinstance(today, dt.date):
        raise ValidationError("today", "expected a date such as 2025-11-15", value=today)
    if today.year == dt.MINYEAR:
        raise ValidationError(
            "today", "has no full calendar year before it (year 1 is the first)", value=today
        )
    year = today.year - 1
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


class OverviewFilters(CheckedModel):
    """What the overview panels are restricted to; every field is optional.

    - ``start``/``end`` (inclusive dates): sales by ``sold_at``, artworks by
      ``acquired_at``, attendance by visit day;
    - ``mediums``/``status``: the artworks counted, sold or exhibited;
    - ``user_id``: artworks the user owns, artists they manage, exhibitions they curate;
    - ``artist_id``: the artworks of one artist (sold, counted or exhibited), and that
      artist among the artists;
    - ``currency``: money panels show amounts in this currency, each converted at the
      exchange rate of its month; what has no rate is left out and stated in the panel's
      notes (``DashboardService.list_currencies()`` lists the currencies with rates).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: dt.date | None = None
    end: dt.date | None = None
    mediums: tuple[MediumName, ...] = Field(default=(), max_length=100)
    status: ArtworkStatus | None = None
    user_id: str | None = None
    artist_id: str | None = None
    currency: CurrencyCode = "EUR"
    top_n: int = Field(default=10, ge=1, le=100)
    # The day "open now" means when neither start nor end is given (the key figures'
    # open exhibitions). DashboardService fills in Database.today() when it is None.
    today: dt.date | None = None

    @field_validator("start", "end", "today", mode="before")
    @classmethod
    def _plain_date(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            raise ValueError("expected a date such as 2025-06-01, not a datetime")
        return value

    @field_validator("start", "end", "today")
    @classmethod
    def _representable(cls, value: dt.date | None) -> dt.date | None:
        problem = None if value is None else date_range_problem(value)
        if problem is not None:
            raise ValueError(problem)  # pydantic names the field
        return value

    @field_validator("end")
    @classmethod
    def _end_not_before_start(cls, end: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("start")
        if end is not None and start is not None and end < start:
            raise ValueError(f"must be on or after start ({start.isoformat()})")
        return end

    @field_validator("mediums", mode="before")
    @classmethod
    def _one_medium_is_a_list(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("mediums")
    @classmethod
    def _unique_mediums(cls, mediums: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(mediums))

    @field_validator("user_id", "artist_id")
    @classmethod
    def _valid_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else parse_id(value, field=info.field_name or "id")

    @classmethod
    def parse(cls, value: OverviewFilters | Mapping[str, Any] | None) -> OverviewFilters:
        """Accept filters, a dict of their fields, or None (no filters)."""
        reject_awaitable(value, field="filters")
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ValidationError(
                "filters", f"expected OverviewFilters or a dict, got {type(value).__name__}"
            )
        return build(cls, dict(value))
