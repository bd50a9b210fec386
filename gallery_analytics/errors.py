"""The project's exceptions.

Everything the package raises on purpose derives from :class:`GalleryAnalyticsError`,
so a notebook or the CLI can catch one class and show one clear sentence instead of a
driver traceback. Driver and connection errors are translated in one module,
:mod:`gallery_analytics.db.translate` (by class, never by message text), which every path
to the server uses: the pool's sessions, the maintenance connection (``db.admin``) and
the migration engine (``db.schema``); so one failure reads the same wherever it happens.

This is the lowest layer: it imports nothing from the project. That is why
:class:`Problem`, the record :class:`ImportValidationError` carries, is defined here and
not in ``gallery_analytics.imports`` (which imports this module, not the other way round).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Import problems listed one per line before the rest are only counted.
ERROR_LIMIT = 20


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong (``reason``) in an import file at ``file``, physical ``line``,
    ``column`` (may be empty): pure data, collected by the import reader and parser and
    carried by :class:`ImportValidationError`."""

    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" + (
            f", column {self.column}" if self.column else ""
        )
        return f"{where}: {self.reason}"


class GalleryAnalyticsError(Exception):
    """Base class of every error this package raises deliberately."""


class ValidationError(GalleryAnalyticsError, ValueError):
    """An input value is malformed; ``field`` names it and ``expected`` says what would do."""

    def __init__(self, field: str, message: str, *, value: object = None) -> None:
        self.field = field
        self.reason = message
        self.value = value
        super().__init__(f"{field}: {message}")


class NotFoundError(GalleryAnalyticsError, LookupError):
    """No row has the requested id."""

    def __init__(self, entity: str, entity_id: str) -> None:
        self.entity = entity
        self.entity_id = entity_id
        super().__init__(f"{entity} {entity_id!r} does not exist")


class AuthenticationError(GalleryAnalyticsError):
    """A request carried no valid credentials (the HTTP API's 401): no token, or one that
    is unknown, revoked or malformed. The message never repeats what was sent."""


class PermissionDeniedError(GalleryAnalyticsError):
    """Valid credentials without the right to do this (the HTTP API's 403): a token
    lacking the scope the request needs."""


class InputTooLargeError(ValidationError):
    """An input is larger than accepted (the HTTP API's 413); ``limit`` is the bound."""

    def __init__(self, field: str, message: str, *, limit: int) -> None:
        self.limit = limit
        super().__init__(field, message)


class PanelFailedError(GalleryAnalyticsError):
    """A dashboard panel asked for on its own failed (its error replaced its rows);
    ``timed_out`` when it ran past its time budget (the HTTP API's 504, else 500)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        self.timed_out = timed_out
        super().__init__(message)


class ConfigurationError(GalleryAnalyticsError):
    """Settings or environment are unusable (bad URL, no PostgreSQL available, ...)."""


class EmbeddedServerError(ConfigurationError):
    """The embedded PostgreSQL server could not be found, initialised or started."""


class DatabaseError(GalleryAnalyticsError):
    """A database operation failed; the message is meant for an analyst, the cause is chained."""


class DatabaseUnavailableError(DatabaseError):
    """The server could not be reached or dropped the connection."""


class PoolExhaustedError(DatabaseUnavailableError):
    """No pooled connection became free within the pool timeout."""


class ReadOnlyError(DatabaseError):
    """A write was attempted inside a read-only session."""


class ConcurrentSessionUseError(DatabaseError):
    """One session was used by two tasks at once; each concurrent task needs its own."""


class ConstraintViolationError(DatabaseError):
    """A write broke a constraint (foreign key, check, unique, not null)."""

    def __init__(self, message: str, *, constraint: str | None = None) -> None:
        self.constraint = constraint
        super().__init__(message)


class QueryTimeoutError(DatabaseError):
    """A statement ran past its statement timeout and was cancelled by the server."""


class DatabaseNotAnsweringError(DatabaseUnavailableError, TimeoutError):
    """The server stopped answering mid-statement (client-side timeout); the connection
    was dropped. Also a ``TimeoutError``, for code that bounds waits generically."""


class SessionClosedError(DatabaseError):
    """A session was used after its ``async with`` block ended."""


class EventLoopMismatchError(GalleryAnalyticsError, RuntimeError):
    """A resource bound to one event loop was used from another."""


class OutputPathError(ValidationError):
    """An output path cannot be written: a directory, under a non-directory, or protected."""

    def __init__(self, field: str, message: str, *, path: object) -> None:
        self.path = path
        super().__init__(field, message, value=path)


class OutputExistsError(OutputPathError, FileExistsError):
    """An output file already exists and this run did not create it (``--force`` replaces it)."""


class ReportIncompleteError(GalleryAnalyticsError):
    """Report panels failed, so the report would be missing figures (``--allow-partial``
    writes it anyway, listing the failures)."""


class SchemaOutdatedError(ConfigurationError):
    """The database's schema revision is not the one this code needs.

    ``ahead`` is False when the database is behind (or has no schema): run
    ``gallery-analytics db upgrade``; True when a newer gallery-analytics migrated it.
    """

    def __init__(
        self, message: str, *, current: str | None, head: str, ahead: bool = False
    ) -> None:
        self.current = current
        self.head = head
        self.ahead = ahead
        super().__init__(message)


class ImportValidationError(GalleryAnalyticsError):
    """The import files have problems (``problems``, each with file, line and column);
    nothing was written."""

    def __init__(self, problems: Sequence[Problem], *, limit: int = ERROR_LIMIT) -> None:
        self.problems = list(problems)
        shown = "\n".join(f"  {problem}" for problem in self.problems[:limit])
        more = len(self.problems) - limit
        tail = f"\n  ... and {more} more problem(s)" if more > 0 else ""
        super().__init__(
            f"{len(self.problems)} problem(s) in the import files; nothing was written:\n"
            f"{shown}{tail}"
        )


class ReportExecutionError(GalleryAnalyticsError):
    """A report cell failed; the executed notebook is kept at ``executed_path``."""

    def __init__(self, message: str, *, executed_path: Path) -> None:
        self.executed_path = executed_path
        super().__init__(message)


class NotebookExecutionError(GalleryAnalyticsError):
    """A notebook cell failed while re-executing the notebooks; the file is left as it was."""


class MissingExtraError(GalleryAnalyticsError, ImportError):
    """A module needs an optional dependency group (an extra) that is not installed.

    The core (services, queries, frames, charts, imports) installs without Jupyter; the
    widgets, reports and notebook runner need ``gallery-analytics[notebook]``. Also an
    ``ImportError``, since it is raised while importing the module that needs the extra.
    """

    def __init__(self, *, needed_by: str, missing: str, extra: str) -> None:
        self.needed_by = needed_by
        self.missing = missing
        self.extra = extra
        super().__init__(
            f"{needed_by} needs {missing}, part of the {extra!r} extra, which is not "
            f"installed: pip install 'gallery-analytics[{extra}]'",
            name=missing,
        )
