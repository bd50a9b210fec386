"""The interactive dashboard (JupyterLab, Voila): one anywidget.

Needs the ``notebook`` extra (anywidget, ipywidgets): without it, importing this package
raises :class:`gallery_analytics.MissingExtraError` saying what to install.
"""

from gallery_analytics.extras import require_extra

with require_extra("notebook", needed_by=__name__):
    import anywidget  # noqa: F401

from gallery_analytics.widgets.dashboard import GalleryDashboard

__all__ = ["GalleryDashboard"]
