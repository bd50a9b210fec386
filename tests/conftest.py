"""Shared fixtures: one real PostgreSQL per test session, a database per test.

The embedded server is started once in a temporary directory (never the developer's
own ``.gallery``) and stopped at the end. A template database is seeded once with the
small demo dataset; tests that write get their own copy (``CREATE DATABASE ...
TEMPLATE``, a file-level copy), so no test sees another's rows. Set
``GALLERY_TEST_SERVER_URL`` to a superuser URL to run against another server instead.
"""

from __future__ import annotations

import inspect
import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from blockbuster import BlockBuster, blockbuster_ctx
from sqlalchemy.engine import URL, make_url

from gallery_analytics.db.admin import create_database, drop_database
from gallery_analytics.db.connect import application_database
from gallery_analytics.db.database import Database
from gallery_analytics.db.embedded import EmbeddedPostgres
from gallery_analytics.db.roles import APP_ROLES, provision_database
from gallery_analytics.db.schema import upgrade_schema
from gallery_analytics.demo.generate import DEFAULT_SEED
from gallery_analytics.demo.load import seed_demo

_names = itertools.count()


# Blocking calls inside third-party code that we accept, each one small and one-off:
# (function, file, calling function).
ALLOWED_BLOCKING_CALLS = [
    # asyncpg looks for ~/.pgpass when a URL has no password: one stat per new connection.
    ("os.stat", "asyncpg/connect_utils.py", "_read_password_file"),
]


@pytest.fixture(autouse=True)
def no_blocking_calls_in_the_event_loop(
    request: pytest.FixtureRequest,
) -> Iterator[BlockBuster | None]:
    """Async tests run under blockbuster: a blocking call (file or socket I/O, sleep...)
    made on the event loop's thread fails the test. Never-awaited coroutines already fail
    it: RuntimeWarnings are errors (pyproject's filterwarnings)."""
    function = getattr(request, "function", None)
    if function is None or not inspect.iscoroutinefunction(function):
        yield None
        return
    with blockbuster_ctx() as blockbuster:
        for name, module, caller in ALLOWED_BLOCKING_CALLS:
            blockbuster.functions[name].can_block_in(module, caller)
        yield blockbuster


def unique_database_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """Superuser URL of the PostgreSQL server the tests use."""
    configured = os.environ.get("GALLERY_TEST_SERVER_URL")
    if configured:
        yield make_url(configured).set(drivername="postgresql+asyncpg")
        return
    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("embedded-pg")))
    url = make_url(server.start())
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def template_database(server_url: URL) -> AsyncIterator[str]:
    """A database with the schema and the small demo dataset (seed 42), never connected to
    by tests directly so it can serve as a template."""
    name = unique_database_name("gallery_template")
    await create_database(server_url, name)
    await provision_database(server_url, name)
    async with application_database(server_url, name) as db:
        await upgrade_schema(db.admin_url)  # migrations run as the schema owner
        await seed_demo(db, size="small", seed=DEFAULT_SEED, progress=False)
    yield name
    await drop_database(server_url, name)


async def _clone(server_url: URL, template: str, prefix: str) -> AsyncIterator[Database]:
    name = unique_database_name(prefix)
    await create_database(server_url, name, template=template)
    # Tests connect as the application does: writer, SELECT-only reader, schema owner.
    await provision_database(server_url, name)
    try:
        async with application_database(server_url, name) as db:
            yield db
    finally:
        await drop_database(server_url, name)


@pytest.fixture(scope="session")
async def seeded_db(server_url: URL, template_database: str) -> AsyncIterator[Database]:
    """The small demo dataset, shared by read-only tests (do not write here)."""
    async for db in _clone(server_url, template_database, "gallery_read"):
        yield db


@pytest.fixture
async def fresh_db(server_url: URL, template_database: str) -> AsyncIterator[Database]:
    """A private copy of the small demo dataset that a test may change freely."""
    async for db in _clone(server_url, template_database, "gallery_write"):
        yield db


@pytest.fixture
async def empty_db(server_url: URL) -> AsyncIterator[Database]:
    """A private database with the schema and no rows."""
    name = unique_database_name("gallery_empty")
    await create_database(server_url, name)
    await provision_database(server_url, name)
    try:
        async with application_database(server_url, name) as db:
            await upgrade_schema(db.admin_url)
            yield db
    finally:
        await drop_database(server_url, name)


def run_cli(
    *args: str,
    database_url: URL | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``gallery-analytics`` as a user would: none of this process's GALLERY_*
    settings, only ``database_url`` (if given) and ``env``."""
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        env=cli_environment(database_url, env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def cli_command(*args: str) -> list[str]:
    """The command line of ``gallery-analytics *args`` in this interpreter."""
    return [sys.executable, "-m", "gallery_analytics.cli", *args]


def cli_environment(
    database_url: URL | None = None, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A user's environment for the command: this one without its GALLERY_* settings,
    plus ``database_url`` (a writer's URL brings the read role's beside it) and ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    if database_url is not None:
        environment["GALLERY_DATABASE_URL"] = database_url.render_as_string(hide_password=False)
        if database_url.username == APP_ROLES.writer:
            # Configured as a deployment would be: reads as the SELECT-only role.
            reader = database_url.set(username=APP_ROLES.reader)
            environment["GALLERY_READ_DATABASE_URL"] = reader.render_as_string(hide_password=False)
    environment.update(env or {})
    return environment


@pytest.fixture(scope="session")
def demo_report(
    seeded_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One report of the small demo data (first half of 2024, photography), made once."""
    out = tmp_path_factory.mktemp("report") / "photography.html"
    result = run_cli(
        "report",
        "--out",
        str(out),
        "--param",
        "start=2024-01-01",
        "--param",
        "end=2024-06-30",
        "--param",
        "medium=Photography",
        database_url=seeded_db.url,
    )
    assert result.returncode == 0, result.stderr
    return out, result


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the fault-injection table (tests/integration/test_faults.py), if it ran."""
    from tests.fault_table import FAULT_TABLE

    if not FAULT_TABLE:
        return
    widths = [
        max(len(row[i]) for row in [("scenario", "expected", "observed"), *FAULT_TABLE])
        for i in range(3)
    ]
    terminalreporter.section("faults: scenario / expected / observed")
    for row in [("scenario", "expected", "observed"), *FAULT_TABLE]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        terminalreporter.write_line("  ".join(cells))
