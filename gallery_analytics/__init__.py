"""gallery-analytics: an async analytics workbench for an art-gallery platform.

Importing the package creates no engine, pool, connection or event loop; call
``db = await gallery_analytics.connect()`` when you need the database. Every error the
package raises on purpose is exported here (``except gallery_analytics.ReadOnlyError``).
"""

from gallery_analytics.db.connect import connect
from gallery_analytics.db.database import Database
from gallery_analytics.domain.filters import OverviewFilters, default_period
from gallery_analytics.errors import (
    AuthenticationError,
    ConcurrentSessionUseError,
    ConfigurationError,
    ConstraintViolationError,
    DatabaseError,
    DatabaseNotAnsweringError,
    DatabaseUnavailableError,
    EmbeddedServerError,
    EventLoopMismatchError,
    GalleryAnalyticsError,
    ImportValidationError,
    InputTooLargeError,
    MissingExtraError,
    NotebookExecutionError,
    NotFoundError,
    OutputExistsError,
    OutputPathError,
    PanelFailedError,
    PermissionDeniedError,
    PoolExhaustedError,
    QueryTimeoutError,
    ReadOnlyError,
    ReportExecutionError,
    ReportIncompleteError,
    SchemaOutdatedError,
    SessionClosedError,
    ValidationError,
)
from gallery_analytics.panels import PANELS, Panel
from gallery_analytics.services import CatalogService, DashboardService
from gallery_analytics.sync import run_sync

__all__ = [
    "PANELS",
    "AuthenticationError",
    "CatalogService",
    "ConcurrentSessionUseError",
    "ConfigurationError",
    "ConstraintViolationError",
    "DashboardService",
    "Database",
    "DatabaseError",
    "DatabaseNotAnsweringError",
    "DatabaseUnavailableError",
    "EmbeddedServerError",
    "EventLoopMismatchError",
    "GalleryAnalyticsError",
    "ImportValidationError",
    "InputTooLargeError",
    "MissingExtraError",
    "NotFoundError",
    "NotebookExecutionError",
    "OutputExistsError",
    "OutputPathError",
    "OverviewFilters",
    "Panel",
    "PanelFailedError",
    "PermissionDeniedError",
    "PoolExhaustedError",
    "QueryTimeoutError",
    "ReadOnlyError",
    "ReportExecutionError",
    "ReportIncompleteError",
    "SchemaOutdatedError",
    "SessionClosedError",
    "ValidationError",
    "connect",
    "default_period",
    "run_sync",
]

__version__ = "0.1.0"
