"""What a dashboard load returns: each panel's rows (or the error that replaced them) and
the overview that holds them.

Pure containers (pydantic models of panel rows, no I/O), so the layers below services
use them without importing services: ``frames.to_frame`` turns a result into a
DataFrame and ``panels.draw`` into a figure, and ``DashboardService`` fills them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from gallery_analytics.domain.columns import ColumnSpec

__all__ = ["GalleryOverviewDto", "PanelResult"]


class PanelResult(BaseModel):
    """One panel of a dashboard load: its rows, or the error that replaced them.

    A panel that fails or runs out of time does not spoil the others: its result
    carries ``status`` and ``error`` instead of rows. ``wall_seconds`` is the time
    from asking for a connection to having the rows. ``columns`` are the panel's
    declared columns (:mod:`gallery_analytics.panels`) with the load's currency as the
    unit of its money columns, so the result says what it sums and how to show it.
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

    @property
    def ok(self) -> bool:
        return self.status == "ok"


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
