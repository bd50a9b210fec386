"""Services: DTO-returning units of work over the repositories and queries."""

from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.dashboard import DashboardService

__all__ = ["CatalogService", "DashboardService"]
