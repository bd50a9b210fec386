"""Interactive ipywidgets dashboards (JupyterLab, Voila)."""

from gallery_analytics.widgets.dashboard import GalleryDashboard

__all__ = ["GalleryDashboard"]
