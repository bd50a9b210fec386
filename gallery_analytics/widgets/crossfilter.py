"""Cross-filters: a click on one chart narrows the other panels.

A click on a chart sends the point's selection, a small mapping such as
``{"medium": "Print"}``, ``{"medium": "Print", "status": "sold"}`` or
``{"month": "2024-03"}``, which the chart put on the point (see the ``ids`` the
charts in :mod:`gallery_analytics.charts` give clickable points). The page is not
trusted: a selection is accepted only with the keys its panel declares
(``Panel.selects``) and values of the right form, and it can only narrow the filters
the controls set, never widen them (a medium outside the chosen ones is refused).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.domain.values import parse_id
from gallery_analytics.errors import ValidationError
from gallery_analytics.panels import Panel

__all__ = ["DIMENSIONS", "Selection", "apply_selections", "parse_selection"]

# What a click can select, and how each is shown on its chip.
DIMENSIONS: Final = {
    "medium": "Medium",
    "status": "Status",
    "month": "Month",
    "artist_id": "Artist",
}
_MONTH: Final = re.compile(r"^(\d{4})-(\d{2})$")
_MAX_TEXT: Final = 200


@dataclass(frozen=True)
class Selection:
    """One active cross-filter: the panel clicked, and what the click selected."""

    panel: str
    filter: tuple[tuple[str, str], ...]

    def describe(self, names: Mapping[str, str]) -> str:
        """The chip's text, e.g. "Medium: Print · Status: sold", showing ids by the names
        in ``names`` where known."""
        parts = []
        for key, value in self.filter:
            value = names.get(value, value)
            if key == "month":
                year, month = (int(part) for part in value.split("-"))
                value = dt.date(year, month, 1).strftime("%b %Y")
            elif key == "status":
                value = value.replace("_", " ")
            parts.append(f"{DIMENSIONS[key]}: {value}")
        return " · ".join(parts)

    def as_json(self, names: Mapping[str, str] | None = None) -> dict[str, Any]:
        label = self.describe(names or {})
        return {"panel": self.panel, "filter": dict(self.filter), "label": label}


def parse_selection(item: Any, panels: Mapping[str, Panel]) -> Selection:
    """A cross-filter from the page, checked: a ValidationError says what is wrong."""
    if not isinstance(item, Mapping):
        raise ValidationError("selections", "each cross-filter must be an object")
    name = item.get("panel")
    panel = panels.get(name) if isinstance(name, str) else None
    if panel is None or not panel.selects:
        raise ValidationError("selections", f"no chart {_short(name)} can be clicked to filter")
    chosen = item.get("filter")
    if not isinstance(chosen, Mapping) or not chosen:
        raise ValidationError("selections", "a cross-filter needs what was selected")
    unexpected = sorted(str(key) for key in chosen if key not in panel.selects)
    if unexpected:
        raise ValidationError(
            "selections",
            f"{panel.title!r} selects {', '.join(panel.selects)}, not {_short(unexpected[0])}",
        )
    checked = []
    for key in panel.selects:  # declared order, so equal selections compare equal
        if key in chosen:
            checked.append((key, _checked_value(key, chosen[key])))
    return Selection(panel.name, tuple(checked))


def _checked_value(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise ValidationError(key, f"expected a short text, got {type(value).__name__}")
    if key == "status":
        try:
            return ArtworkStatus(value).value
        except ValueError:
            raise ValidationError(
                "status", f"expected one of {', '.join(s.value for s in ArtworkStatus)}"
            ) from None
    if key == "artist_id":
        return parse_id(value, field="artist_id")
    if key == "month":
        match = _MONTH.match(value)
        if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
            raise ValidationError("month", "expected a month such as 2024-03")
    return value


def apply_selections(filters: OverviewFilters, selections: list[Selection]) -> OverviewFilters:
    """``filters`` narrowed by ``selections`` (ValidationError if one lies outside them:
    a selection never widens what the controls chose)."""
    changes: dict[str, Any] = {}
    start, end = filters.start, filters.end
    mediums, status, artist = filters.mediums, filters.status, filters.artist_id
    for selection in selections:
        for key, value in selection.filter:
            if key == "medium":
                if mediums and value not in mediums:
                    raise ValidationError("medium", f"{value!r} is not among the chosen mediums")
                mediums = (value,)
            elif key == "status":
                if status is not None and status.value != value:
                    raise ValidationError("status", f"{value!r} is not the chosen status")
                status = ArtworkStatus(value)
            elif key == "artist_id":
                if artist is not None and artist != value:
                    raise ValidationError("artist_id", "is not the chosen artist")
                artist = value
            elif key == "month":
                year, month = (int(part) for part in value.split("-"))
                first = dt.date(year, month, 1)
                last = dt.date(year, month, calendar.monthrange(year, month)[1])
                start = max(start, first) if start else first
                end = min(end, last) if end else last
                if start > end:
                    raise ValidationError("month", f"{value} is outside the chosen period")
    changes.update(start=start, end=end, mediums=mediums, status=status, artist_id=artist)
    return OverviewFilters.parse({**filters.model_dump(), **changes})


def _short(value: object, limit: int = 60) -> str:
    """Page input quoted in a message, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
