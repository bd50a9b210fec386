"""gallery-analytics: an async analytics workbench for an art-gallery platform.

Importing the package creates no engine, pool, connection or event loop; call
``db = await gallery_analytics.connect()`` when you need the database.
"""

from gallery_analytics.db.connect import connect
from gallery_analytics.db.database import Database
from gallery_analytics.errors import GalleryAnalyticsError, NotFoundError, ValidationError
from gallery_analytics.services import CatalogService, DashboardService, OverviewFilters
from gallery_analytics.sync import run_sync

__all__ = [
    "CatalogService",
    "DashboardService",
    "Database",
    "GalleryAnalyticsError",
    "NotFoundError",
    "OverviewFilters",
    "ValidationError",
    "connect",
    "run_sync",
]

__version__ = "0.1.0"
