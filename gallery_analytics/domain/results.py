"""What a dashboard load returns: each panel's rows (or the error that replaced them) and
the overview that holds them.

Pure containers (pydantic models of panel rows, no I/O), so the layers below services
use them without importing services: ``frames.to_frame`` turns a result into a
DataFrame and ``panels.draw`` into a figure, and ``DashboardService`` fills them.

A result's rows are checked against its declared ``columns`` whenever one is built, from
Python values or from JSON: each value is brought to its column's kind by
:meth:`ColumnSpec.parse <gallery_analytics.domain.columns.ColumnSpec.parse>`, so a result
read back from JSON (an HTTP API, a cache) equals the one written, dates and timestamps
included (``GalleryOverviewDto.model_validate_json(o.model_dump_json()) == o``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from gallery_analytics.domain.columns import ColumnSpec
from gallery_analytics.domain.values import CheckedModel
from gallery_analytics.errors import ValidationError

__all__ = ["GalleryOverviewDto", "PanelResult"]


class PanelResult(CheckedModel):
    """One panel of a dashboard load: its rows, or the error that replaced them.

    A panel that fails or runs out of time does not spoil the others: its result
    carries ``status`` and ``error`` instead of rows. ``wall_seconds`` is the time
    from asking for a connection to having the rows. ``columns`` are the panel's
    declared columns (:mod:`gallery_analytics.panels`) with the load's currency as the
    unit of its money columns, so the result says what it sums and how to show it.

    Every row has exactly the declared columns, each value of its column's kind (or
    None, the null that tables show as "-"): a missing or undeclared key is a
    ValidationError naming the panel, row and column, not a null, since it means the
    query and the declaration disagree. Built directly, a problem is the project's
    ValidationError; from JSON (``model_validate_json``), pydantic's, as for any model.

    ``notes`` are sentences a reader must see beside the panel, such as what it left out
    (sales without an exchange rate): the dashboard, the report and the API show them.

    ``cached_at`` (UTC) is when the rows were read, for a result that went through the
    panel cache; ``from_cache`` says this load took it from the cache rather than from
    the database, so the dashboard, the report and the API can show how old it is
    (:meth:`age_seconds`, :meth:`age_text`).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    status: Literal["ok", "error", "timeout"]
    columns: tuple[ColumnSpec, ...]
    rows: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    wall_seconds: float
    row_count: int = 0
    notes: tuple[str, ...] = ()
    cached_at: dt.datetime | None = None
    from_cache: bool = False

    @field_validator("cached_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("expected a timestamp with a time zone (UTC)")
        return value

    @field_validator("rows")
    @classmethod
    def _rows_of_the_declared_kinds(
        cls, rows: tuple[dict[str, Any], ...], info: ValidationInfo
    ) -> tuple[dict[str, Any], ...]:
        columns: tuple[ColumnSpec, ...] | None = info.data.get("columns")
        if columns is None:  # the columns were refused: that error is reported
            return rows
        panel = info.data.get("name", "?")
        declared = [column.name for column in columns]
        checked = []
        for index, row in enumerate(rows):
            where = f"panel {panel!r}, row {index}"
            undeclared = [key for key in row if key not in declared]
            if undeclared:
                raise ValueError(
                    f"{where}: column {undeclared[0]!r} is not declared; expected only "
                    f"{', '.join(declared) or 'none'}"
                )
            values = {}
            for column in columns:
                if column.name not in row:
                    raise ValueError(
                        f"{where}: column {column.name!r} is missing (a null is None, "
                        "not an absent key)"
                    )
                try:
                    values[column.name] = column.parse(row[column.name])
                except ValidationError as exc:
                    raise ValueError(f"{where}, column {column.name!r}: {exc.reason}") from None
            checked.append(values)
        return tuple(checked)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def age_seconds(self, *, now: dt.datetime | None = None) -> float | None:
        """Seconds since the rows were read, for a result served from the cache (None for
        one read from the database by this load: it is as new as the load)."""
        if not self.from_cache or self.cached_at is None:
            return None
        now = dt.datetime.now(dt.UTC) if now is None else now
        return max((now - self.cached_at).total_seconds(), 0.0)

    def age_text(self, *, now: dt.datetime | None = None) -> str | None:
        """ "cached 40 s ago" (minutes past two, hours past two hours), or None when the
        result is not from the cache."""
        age = self.age_seconds(now=now)
        if age is None:
            return None
        if age < 120:
            return f"cached {int(age)} s ago"
        if age < 7200:
            return f"cached {int(age // 60)} min ago"
        return f"cached {int(age // 3600)} h ago"


class GalleryOverviewDto(BaseModel):
    """The gallery overview: every panel's result, keyed by panel name."""

    model_config = ConfigDict(frozen=True)

    panels: dict[str, PanelResult]
    wall_seconds: float
    parallel: bool

    def __getitem__(self, name: str) -> PanelResult:
        return self.panels[name]

    @property
    def failed(self) -> list[PanelResult]:
        return [panel for panel in self.panels.values() if not panel.ok]

    def timings(self) -> list[dict[str, Any]]:
        """Per-panel status, rows and wall time, slowest first (for a table)."""
        return sorted(
            (
                {
                    "panel": p.name,
                    "status": p.status,
                    "rows": p.row_count,
                    "seconds": p.wall_seconds,
                    "error": p.error,
                }
                for p in self.panels.values()
            ),
            key=lambda timing: -float(timing["seconds"]),
        )
