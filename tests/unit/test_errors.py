"""Every error the package raises on purpose is defined in ``gallery_analytics.errors``
and reachable as ``gallery_analytics.X``; driver errors are translated in one place."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import pytest
from pydantic_core import PydanticCustomError
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url

import gallery_analytics
import gallery_analytics as ga
from gallery_analytics import errors
from gallery_analytics.config import Settings
from gallery_analytics.db import admin
from gallery_analytics.db.admin import maintenance_connection
from gallery_analytics.db.database import Database
from gallery_analytics.db.schema import migration_engine
from gallery_analytics.db.sessions import CONNECT_TIMEOUT_SECONDS
from gallery_analytics.db.translate import (
    connect_error,
    describe_server,
    lock_timeout_error,
    not_answering_error,
    translate_error,
)

# Alembic runs these files itself (env.py configures a migration at import).
_NOT_IMPORTABLE = ("gallery_analytics.db.migrations",)


def _every_module() -> list[ModuleType]:
    modules = [gallery_analytics]
    for info in pkgutil.walk_packages(gallery_analytics.__path__, "gallery_analytics."):
        if not info.name.startswith(_NOT_IMPORTABLE):
            modules.append(importlib.import_module(info.name))
    return modules


def _internal(cls: type[BaseException]) -> bool:
    """Exceptions that never reach a caller: private control flow (``_DryRun`` rolls a
    dry run back) and pydantic custom errors, which a validator raises for pydantic to
    collect into a project error (an import ``Problem``, a ``ValidationError``)."""
    return cls.__name__.startswith("_") or issubclass(cls, PydanticCustomError)


def test_every_exception_class_is_defined_in_errors_and_exported() -> None:
    misplaced = []
    for module in _every_module():
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not _internal(value)
            ):
                if module is not errors:
                    misplaced.append(f"{module.__name__}.{name}")
                else:
                    assert issubclass(value, errors.GalleryAnalyticsError), name
                    assert name in gallery_analytics.__all__, name
                    assert getattr(gallery_analytics, name) is value, name
    assert misplaced == []


def test_every_project_error_is_exported_at_the_top() -> None:
    declared = {
        name
        for name, value in inspect.getmembers(errors, inspect.isclass)
        if issubclass(value, errors.GalleryAnalyticsError) and value.__module__ == errors.__name__
    }
    assert declared <= set(gallery_analytics.__all__)
    for name in declared:
        assert getattr(gallery_analytics, name) is getattr(errors, name)


@pytest.mark.parametrize(
    ("driver_error", "project_error"),
    [
        (asyncpg.exceptions.ReadOnlySQLTransactionError("read-only"), "ReadOnlyError"),
        (asyncpg.exceptions.QueryCanceledError("canceling statement"), "QueryTimeoutError"),
        (asyncpg.exceptions.UniqueViolationError("duplicate"), "ConstraintViolationError"),
        (asyncpg.exceptions.SyntaxOrAccessError("syntax"), "DatabaseError"),
        (ConnectionRefusedError(111, "refused"), "DatabaseUnavailableError"),
        (sa_exc.TimeoutError("QueuePool limit"), "PoolExhaustedError"),
    ],
)
def test_translated_errors_are_caught_by_their_top_level_name(
    driver_error: BaseException, project_error: str
) -> None:
    """The README's ``except ga.ReadOnlyError`` (and the others) catch what the database
    layer raises."""
    translated = translate_error(driver_error)
    assert translated is not None
    with pytest.raises(getattr(ga, project_error)):
        raise translated from driver_error
    with pytest.raises(ga.GalleryAnalyticsError):  # and the base class catches them all
        raise translated


def test_the_pool_timeout_is_translated_in_one_place_naming_the_pool() -> None:
    pool = Settings().pool
    translated = translate_error(sa_exc.TimeoutError("QueuePool limit reached"), pool=pool)
    assert isinstance(translated, ga.PoolExhaustedError)
    assert f"within {pool.timeout_seconds:g} s" in str(translated)
    assert f"pool of {pool.size} connections" in str(translated)
    assert "GALLERY_POOL_SIZE" in str(translated)


def test_connect_failures_say_whether_the_server_was_silent_or_absent() -> None:
    silent = connect_error(TimeoutError(), server="db.example:5432", waited_seconds=10)
    absent = connect_error(
        ConnectionRefusedError(111, "Connection refused"),
        server="db.example:5432",
        waited_seconds=10,
        hint="is the server running?",
    )
    assert isinstance(silent, ga.DatabaseUnavailableError)
    assert str(silent) == "the database at db.example:5432 did not answer within 10 s"
    assert str(absent) == (
        "the database at db.example:5432 cannot be reached (Connection refused); "
        "is the server running?"
    )


def test_errors_is_the_lowest_layer_and_imports_nothing_of_the_project() -> None:
    """Not even for type checking: ``errors.Problem``, which ImportValidationError
    carries, is defined in errors.py, not imported from ``imports`` above it."""
    tree = ast.parse(Path(errors.__file__).read_text(encoding="utf-8"))
    project_imports = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.level > 0 or (node.module or "").startswith("gallery_analytics"))
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("gallery_analytics")
    ]
    assert project_imports == []
    problem = errors.Problem("artists.csv", 3, "name", "must not be blank")
    assert str(ga.ImportValidationError([problem])).endswith(
        "  artists.csv, line 3, column name: must not be blank"
    )


# Modules that build a database error themselves, and why that is not translating a
# driver error (everything else goes through gallery_analytics.db.translate).
_OWN_DATABASE_ERRORS = {
    # A connection lost mid-COPY is noticed by our own termination listener, which
    # cancels the stuck task: the error reports that cancellation.
    "gallery_analytics/db/database.py": 1,
}
_DRIVER_ERROR_CLASSES = {
    "DatabaseError",
    "DatabaseUnavailableError",
    "PoolExhaustedError",
    "QueryTimeoutError",
    "ReadOnlyError",
    "ConstraintViolationError",
}


def test_database_errors_are_worded_in_one_module() -> None:
    """admin.py (maintenance connections) and schema.py (migrations) once wrote their
    own "did not answer" / "cannot be reached" / lock-timeout messages."""
    package = Path(gallery_analytics.__file__).resolve().parent
    built: dict[str, int] = {}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).as_posix()
        if relative in {"gallery_analytics/db/translate.py", "gallery_analytics/errors.py"}:
            continue
        calls = [
            node
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _DRIVER_ERROR_CLASSES
        ]
        if calls:
            built[relative] = len(calls)
    assert built == _OWN_DATABASE_ERRORS


def test_a_lock_wait_past_lock_timeout_says_what_waited_and_that_nothing_changed() -> None:
    cause = asyncpg.exceptions.LockNotAvailableError("canceling statement due to lock timeout")
    upgrade = translate_error(
        cause, operation="the schema upgrade of postgresql://db/x", lock_timeout_seconds=1
    )
    anywhere = translate_error(cause)
    assert isinstance(upgrade, ga.DatabaseError)
    assert str(upgrade) == (
        "the schema upgrade of postgresql://db/x waited more than 1 s for a table in use "
        "(a long query or an open transaction) and changed nothing; run it again when that "
        "has finished"
    )
    assert str(anywhere) == str(lock_timeout_error())
    assert str(anywhere).startswith("the statement waited too long for a table in use")


URL = make_url("postgresql+asyncpg://ann:secret@db.example:5432/gallery")


@pytest.mark.parametrize(
    "failure", [TimeoutError(), ConnectionRefusedError(111, "Connection refused")], ids=repr
)
async def test_every_connection_path_words_a_failed_connect_alike(
    failure: OSError, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The maintenance connection (db create/drop, roles) and the migration engine say
    what the pool says, from connect_error: which server, silent or absent."""

    async def fail(*_args: object, **_kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(asyncpg, "connect", fail)
    expected = str(
        connect_error(
            failure,
            server=describe_server(URL),
            waited_seconds=CONNECT_TIMEOUT_SECONDS,
            hint="is the server running?",
        )
    )
    with pytest.raises(ga.DatabaseUnavailableError) as maintenance:
        async with maintenance_connection(URL):
            pass
    engine = migration_engine(URL)
    try:
        with pytest.raises(ga.DatabaseUnavailableError) as migration:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert str(maintenance.value) == expected
    assert str(migration.value) == expected
    assert "db.example:5432/gallery" in expected
    assert "secret" not in expected


class _SilentConnection:
    """Stands for an asyncpg connection whose server stopped answering."""

    def __init__(self) -> None:
        self.terminated = False

    def terminate(self) -> None:
        self.terminated = True

    def is_closed(self) -> bool:
        return self.terminated


async def test_an_unanswered_admin_command_is_the_not_answering_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = _SilentConnection()

    async def connect(*_args: object, **_kwargs: object) -> Any:
        return connection

    monkeypatch.setattr(asyncpg, "connect", connect)
    with pytest.raises(ga.DatabaseNotAnsweringError) as caught:
        async with maintenance_connection(URL):
            raise TimeoutError  # what asyncpg raises at its command_timeout
    assert connection.terminated
    waited = f"{admin.ADMIN_COMMAND_TIMEOUT_SECONDS:g} s (the bound on an administrative command)"
    assert str(caught.value) == str(not_answering_error(waited=waited))
    assert isinstance(caught.value, ga.DatabaseUnavailableError)  # as before


def test_a_missing_extra_is_an_import_error_that_says_what_to_install() -> None:
    error = ga.MissingExtraError(
        needed_by="gallery_analytics.reports", missing="papermill", extra="notebook"
    )
    assert isinstance(error, ImportError)
    assert error.name == "papermill"
    assert str(error).endswith("pip install 'gallery-analytics[notebook]'")


BOGUS_SSLMODE = "postgresql://ann:pw-secret@127.0.0.1:1/gallery?sslmode=bogus"


async def test_a_url_parameter_the_driver_refuses_is_a_configuration_error() -> None:
    """asyncpg checks the URL's parameters before it connects (no server needed here):
    its ClientConfigurationError is a setting to fix (CLI exit 2), not a statement the
    database rejected; the message names the parameter and the settings, never the URL
    or its password. Every connection path says the same."""
    async with Database(BOGUS_SSLMODE) as db:
        with pytest.raises(ga.ConfigurationError) as pooled:
            async with db.read_session() as session:
                await session.execute(text("SELECT 1"))  # a session connects on first use
        with pytest.raises(ga.ConfigurationError) as admin_connection:
            async with db.admin_connection():
                pass
    with pytest.raises(ga.ConfigurationError) as maintenance:
        async with maintenance_connection(make_url(BOGUS_SSLMODE)):
            pass
    message = str(pooled.value)
    assert not isinstance(pooled.value, ga.DatabaseError)
    assert "`sslmode` parameter must be one of" in message
    assert "GALLERY_DATABASE_URL" in message
    assert "rejected the statement" not in message
    assert "pw-secret" not in message
    assert "127.0.0.1" not in message
    assert str(admin_connection.value) == message
    assert str(maintenance.value) == message


def test_a_driver_configuration_message_that_quotes_the_url_is_not_repeated() -> None:
    """asyncpg quotes the host part for a malformed IPv6 address: a URL's text, which the
    message leaves out (it may hold credentials)."""
    translated = translate_error(
        asyncpg.exceptions.ClientConfigurationError(
            "invalid IPv6 address in the connection URI: 'ann:pw-secret@[::1'"
        )
    )
    assert isinstance(translated, ga.ConfigurationError)
    assert "pw-secret" not in str(translated)
    assert "GALLERY_DATABASE_URL" in str(translated)


def test_a_busy_asyncpg_connection_is_concurrent_use_and_other_interface_errors_are_not() -> None:
    """asyncpg says so only in words (an InterfaceError): two tasks on one connection."""
    busy = asyncpg.exceptions.InterfaceError(
        "cannot perform operation: another operation is in progress"
    )
    translated = translate_error(busy)
    assert isinstance(translated, ga.ConcurrentSessionUseError)
    assert "its own session" in str(translated)
    closed = asyncpg.exceptions.InterfaceError("cannot perform operation: connection is closed")
    assert not isinstance(translate_error(closed), ga.ConcurrentSessionUseError)
