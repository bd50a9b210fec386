"""Services: DTO-returning units of work over the repositories and queries."""

from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.services.filters import OverviewFilters

__all__ = ["CatalogService", "DashboardService", "OverviewFilters"]
