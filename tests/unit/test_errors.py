"""Every error the package raises on purpose is defined in ``gallery_analytics.errors``
and reachable as ``gallery_analytics.X``; driver errors are translated in one place."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import asyncpg
import pytest
from pydantic_core import PydanticCustomError
from sqlalchemy import exc as sa_exc

import gallery_analytics
import gallery_analytics as ga
from gallery_analytics import errors
from gallery_analytics.config import Settings
from gallery_analytics.db.translate import connect_error, translate_error

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


def test_a_missing_extra_is_an_import_error_that_says_what_to_install() -> None:
    error = ga.MissingExtraError(
        needed_by="gallery_analytics.reports", missing="papermill", extra="notebook"
    )
    assert isinstance(error, ImportError)
    assert error.name == "papermill"
    assert str(error).endswith("pip install 'gallery-analytics[notebook]'")
