"""Services: DTO-returning units of work over the repositories."""

from gallery_analytics.services.catalog import CatalogService

__all__ = ["CatalogService"]
