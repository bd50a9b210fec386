"""Database passwords never appear in reprs, logs, error messages, CLI output, notebook
outputs or reports.

A throwaway embedded server gets a login role, ``analyst``, whose password is really
required (``scram-sha-256`` in ``pg_hba.conf``; the server otherwise trusts its private
socket), and a database it owns, seeded with the small demo data. The CLI, three
notebooks, a report and the Python API then run against the password URL, and
everything they wrote is searched for the password in every form it could take: as
is, URL-encoded, and its random core alone. The password holds characters that URLs
must encode, so the encoded form differs from the plain one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import subprocess
import traceback
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

import gallery_analytics as ga
from gallery_analytics.config import Settings
from gallery_analytics.db.admin import database_exists, driver_dsn, quote_identifier
from gallery_analytics.db.database import Database
from gallery_analytics.db.embedded import EmbeddedPostgres
from gallery_analytics.db.roles import RoleUrls
from gallery_analytics.db.schema import upgrade_schema
from gallery_analytics.demo.generate import DEFAULT_SEED
from gallery_analytics.demo.load import seed_demo
from gallery_analytics.errors import ConfigurationError, DatabaseUnavailableError
from gallery_analytics.notebooks import execute_notebook, notebooks_dir
from tests.conftest import run_cli

ROLE = "analyst"
DATABASE = "gallery_credentials"
NOTEBOOKS = ("01-quickstart", "02-gallery-overview", "05-async-pitfalls")
# Characters a URL must percent-encode, so "URL-encoded" is a distinct form to look for.
_URL_SPECIALS = "@:/%"
_WORKERS = max(2, min(4, os.cpu_count() or 2))


def _secret(prefix: str) -> tuple[str, str]:
    """A distinctive password and its random core (16 hex digits, found nowhere by chance)."""
    core = secrets.token_hex(8)
    return f"{prefix}-{core}-{_URL_SPECIALS}", core


@dataclass(frozen=True, slots=True)
class SecuredServer:
    socket_dir: str
    url: URL  # analyst with the right password
    wrong_url: URL  # analyst with a wrong password
    secrets: tuple[str, ...]  # the passwords and their random cores
    embedded_dir: Path  # an empty GALLERY_EMBEDDED_DIR for the CLI (never .gallery/)

    def forms(self) -> list[str]:
        """Every form in which a password could leak."""
        found: dict[str, None] = {}
        for secret in self.secrets:
            for form in (secret, quote(secret, safe=""), quote_plus(secret), quote(secret)):
                found[form] = None
        return list(found)


def _password_url(socket_dir: str, password: str | None) -> URL:
    # URL.set(password=None) keeps the old password: build the URL afresh instead.
    return URL.create(
        "postgresql",
        username=ROLE,
        password=password,
        database=DATABASE,
        query={"host": socket_dir},
    )


def _rewrite_keeping_owner(path: Path, content: str) -> None:
    """Write ``path`` as root or as ourselves, keeping its owner and mode (under root the
    data directory belongs to the server's unprivileged account)."""
    before = path.stat()
    path.write_text(content, encoding="utf-8")
    os.chown(path, before.st_uid, before.st_gid)
    path.chmod(before.st_mode & 0o7777)


async def _connect_fails(dsn: str) -> BaseException | None:
    try:
        connection = await asyncpg.connect(dsn, timeout=10)
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError) as exc:
        return exc
    await connection.close()
    return None


@pytest.fixture(scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecuredServer]:
    """A fresh server where ``analyst`` must give its password, with a seeded database."""
    password, core = _secret("Pw")
    wrong, wrong_core = _secret("Wrong")
    server = EmbeddedPostgres(tmp_path_factory.mktemp("credentials-pg"))
    superuser_url = make_url(await asyncio.to_thread(server.start))
    try:
        admin = await asyncpg.connect(driver_dsn(superuser_url))
        try:
            # DDL takes no bound parameters; the password holds no quote.
            await admin.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}'")
            await admin.execute(f"CREATE DATABASE {quote_identifier(DATABASE)} OWNER {ROLE}")
            hba = server.data_dir / "pg_hba.conf"
            original = hba.read_text(encoding="utf-8")
            _rewrite_keeping_owner(hba, f"local all {ROLE} scram-sha-256\n{original}")
            assert await admin.fetchval("SELECT pg_reload_conf()") is True
        finally:
            await admin.close()

        socket_dir = str(superuser_url.query["host"])
        url = _password_url(socket_dir, password)
        # The postmaster reloads pg_hba.conf asynchronously: wait until it refuses.
        no_password = driver_dsn(_password_url(socket_dir, None))
        for _ in range(100):
            if await _connect_fails(no_password) is not None:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the server still lets analyst in without a password")

        async with Database(url) as db:
            await upgrade_schema(url)
            await seed_demo(db, size="small", seed=DEFAULT_SEED, progress=False)
        embedded_dir = tmp_path_factory.mktemp("credentials-embedded")
        yield SecuredServer(
            socket_dir=socket_dir,
            url=url,
            wrong_url=_password_url(socket_dir, wrong),
            secrets=(password, core, wrong, wrong_core),
            embedded_dir=embedded_dir,
        )
    finally:
        await asyncio.to_thread(server.stop)


# -- searching ---------------------------------------------------------------------------


def _hits(text_: str, forms: Iterable[str]) -> list[str]:
    return [form for form in forms if form in text_]


def _search(title: str, sources: Mapping[str, str], forms: Sequence[str]) -> list[str]:
    """Look for every form in every source; print a table; return one line per leak."""
    leaks: list[str] = []
    width = max([len(source) for source in sources] + [len("source")])
    lines = [f"\n{title}", f"  {'source':<{width}}  {'bytes':>9}  found"]
    for source, content in sources.items():
        hits = _hits(content, forms)
        lines.append(f"  {source:<{width}}  {len(content.encode()):>9,}  {'YES' if hits else 'no'}")
        for hit in hits:
            at = content.index(hit)
            context = content[max(0, at - 120) : at + len(hit) + 40]
            leaks.append(f"{source}: {hit!r} in ...{context!r}...")
    print("\n".join(lines))
    return leaks


def _files_under(*folders: Path) -> dict[str, str]:
    """Every file written under ``folders``, as text (binary bytes replaced)."""
    return {
        f"file {path.relative_to(folder)}": path.read_bytes().decode("utf-8", errors="replace")
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# -- the CLI -----------------------------------------------------------------------------


def _cli(
    *args: str, url: URL | str, secured: SecuredServer, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``gallery-analytics`` as a user would, with only GALLERY_DATABASE_URL set."""
    database_url = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    return run_cli(
        *args,
        cwd=cwd,
        timeout=240,
        env={
            "GALLERY_DATABASE_URL": database_url,
            "GALLERY_EMBEDDED_DIR": str(secured.embedded_dir),
        },
    )


def _outputs(name: str, result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {f"`{name}` stdout": result.stdout, f"`{name}` stderr": result.stderr}


async def test_the_server_really_requires_the_password(secured: SecuredServer) -> None:
    """Guard against a vacuous pass: without the password, or with a wrong one, no entry;
    and the search does find the password wherever the full URL is written."""
    for url in (secured.url, secured.wrong_url):
        rendered = url.render_as_string(hide_password=False)
        assert _hits(rendered, secured.forms())
        assert _hits(str(url.password), secured.forms())
    for url in (_password_url(secured.socket_dir, None), secured.wrong_url):
        error = await _connect_fails(driver_dsn(url))
        assert isinstance(error, asyncpg.InvalidPasswordError), error
    connection = await asyncpg.connect(driver_dsn(secured.url))
    try:
        assert await connection.fetchval("SELECT current_user") == ROLE
        assert await connection.fetchval("SELECT count(*) FROM artists") == 200
    finally:
        await connection.close()


def test_cli_output_never_contains_the_password(secured: SecuredServer, tmp_path: Path) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    password = secured.secrets[0]
    encoded = quote(password, safe="")
    refused = URL.create(
        "postgresql", username=ROLE, password=password, host="127.0.0.1", port=1, database="x"
    )

    def run(*args: str, url: URL | str) -> subprocess.CompletedProcess[str]:
        return _cli(*args, url=url, secured=secured, cwd=work)

    results: dict[str, subprocess.CompletedProcess[str]] = {}
    # Writers first, one at a time; then the readers and the failures side by side.
    results["db init"] = run("db", "init", url=secured.url)
    results["seed"] = run("seed", "--size", "small", "--no-progress", url=secured.url)
    concurrent = {
        "db url": (("db", "url"), secured.url),
        "db status": (("db", "status"), secured.url),
        "summary": (("summary",), secured.url),
        "summary, wrong password": (("summary",), secured.wrong_url),
        "summary, refused connection": (("summary",), refused),
        "db url, mysql scheme": (("db", "url"), f"mysql://{ROLE}:{encoded}@h/x"),
        "summary, malformed URL": (("summary",), f"postgresql://{ROLE}:{encoded}@h:port/x"),
    }
    with ThreadPoolExecutor(_WORKERS) as pool:
        futures = {
            name: pool.submit(run, *args, url=url) for name, (args, url) in concurrent.items()
        }
        results.update({name: future.result() for name, future in futures.items()})

    for name in ("db init", "seed", "db url", "db status", "summary"):
        assert results[name].returncode == 0, f"{name}: {results[name].stderr}"
    assert results["db url"].stdout.strip().startswith(f"postgresql+asyncpg://{ROLE}:***@/")
    assert f"{ROLE}:***@" in results["db status"].stdout
    assert "schema ready" in results["db init"].stdout
    assert "2,000 artworks" in results["seed"].stdout
    assert "Gallery summary on 2025-11-15" in results["summary"].stdout
    wrong_password = results["summary, wrong password"]
    assert wrong_password.returncode == 1, wrong_password.stderr
    assert "password authentication failed" in wrong_password.stderr
    assert results["summary, refused connection"].returncode == 1
    assert results["summary, refused connection"].stderr.startswith("error: ")
    assert results["db url, mysql scheme"].returncode == 2
    assert results["summary, malformed URL"].returncode != 0

    sources: dict[str, str] = {}
    for name, result in results.items():
        sources.update(_outputs(name, result))
    sources.update(_files_under(work, secured.embedded_dir))
    leaks = _search("CLI", sources, secured.forms())
    assert not leaks, "\n".join(leaks)


def test_report_never_contains_the_password(secured: SecuredServer, tmp_path: Path) -> None:
    out = tmp_path / "out" / "r.html"
    result = _cli(
        "report", "--out", str(out), "--no-progress", url=secured.url, secured=secured, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    executed = out.with_suffix(".ipynb")
    assert out.is_file()
    assert executed.is_file()
    assert "Plotly.newPlot(" in out.read_text(encoding="utf-8")

    sources = {**_outputs("report", result), **_files_under(out.parent)}
    leaks = _search("report", sources, secured.forms())
    assert not leaks, "\n".join(leaks)


def test_notebooks_never_contain_the_password(secured: SecuredServer, tmp_path: Path) -> None:
    copies = []
    for name in NOTEBOOKS:
        copy = tmp_path / f"{name}.ipynb"
        shutil.copyfile(notebooks_dir() / f"{name}.ipynb", copy)
        copies.append(copy)
    # One password-protected role for everything: reads, writes and the schema.
    database = RoleUrls(owner=secured.url, writer=secured.url, reader=secured.url)
    with ThreadPoolExecutor(_WORKERS) as pool:
        for future in [pool.submit(execute_notebook, c, database=database) for c in copies]:
            future.result()

    quickstart = copies[0].read_text(encoding="utf-8")
    # The `db` cell shows the URL in use: proof the notebook ran against the password URL.
    assert f"postgresql+asyncpg://{ROLE}:***@/{DATABASE}" in quickstart
    sources = {f"notebook {c.name}": c.read_text(encoding="utf-8") for c in copies}
    leaks = _search("notebooks", sources, secured.forms())
    assert not leaks, "\n".join(leaks)


def _error_text(error: BaseException) -> str:
    """What anyone could see of an error: its traceback with causes, and str and repr of
    every error in its chain (``__context__`` too, even where ``from None`` hides it)."""
    parts = list(traceback.format_exception(error))
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts += [str(current), repr(current)]
        pending += [current.__cause__, current.__context__]
    return "\n".join(parts)


async def test_reprs_errors_and_logs_never_contain_the_password(
    secured: SecuredServer, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("sqlalchemy", "asyncpg", "gallery_analytics"):
        caplog.set_level(logging.DEBUG, logger=name)
    sources: dict[str, str] = {}
    errors: dict[str, BaseException] = {}

    # Reprs of everything that holds a URL.
    async with await ga.connect(secured.url) as db:
        async with db.read_session() as session:
            assert await session.scalar(text("SELECT current_user")) == ROLE
            sources["repr(session.bind)"] = repr(session.bind)
        sources["repr(Database)"] = repr(db)
    assert sources["repr(Database)"] == f"Database({db.url.render_as_string()!r})"
    two = Database(secured.url, read_url=secured.wrong_url)
    sources["repr(Database with read_url)"] = repr(two)
    sources["str/repr(Database.url)"] = f"{two.url} {two.url!r} {two.read_url} {two.read_url!r}"
    settings = Settings.from_env(
        {
            "GALLERY_DATABASE_URL": secured.url.render_as_string(hide_password=False),
            "GALLERY_READ_DATABASE_URL": secured.wrong_url.render_as_string(hide_password=False),
        }
    )
    sources["repr(Settings)"] = repr(settings)

    # Errors: a wrong password, through a session and through connect() (which reads the
    # schema revision, so it connects).
    async with Database(secured.wrong_url) as wrong:
        with pytest.raises(
            DatabaseUnavailableError, match="password authentication failed"
        ) as info:
            async with wrong.read_session() as session:
                await session.execute(text("SELECT 1"))
        errors["error: query with a wrong password"] = info.value
    with pytest.raises(DatabaseUnavailableError) as info:
        await ga.connect(secured.wrong_url)
    errors["error: connect() with a wrong password"] = info.value
    # Administrative helpers fail with the same project error, not the driver's.
    with pytest.raises(DatabaseUnavailableError, match="password authentication failed") as adm:
        await database_exists(secured.wrong_url, DATABASE)
    errors["error: admin helper with a wrong password"] = adm.value
    unreachable = secured.url.set(query={"host": str(secured.embedded_dir / "no-socket-here")})
    with pytest.raises(DatabaseUnavailableError) as unreachable_info:
        await ga.connect(unreachable)
    errors["error: connect() to no server at the socket"] = unreachable_info.value
    async with Database(unreachable) as missing:
        # Today a missing socket escapes untranslated as FileNotFoundError (an OSError,
        # not a ConnectionError); either way its text must not hold the password.
        with pytest.raises((DatabaseUnavailableError, OSError)) as os_info:
            async with missing.read_session() as session:
                await session.execute(text("SELECT 1"))
        errors["error: no server at the socket"] = os_info.value
    for raw in (
        f"{ROLE}:{secured.secrets[0]}@nowhere",  # not a URL at all
        f"mysql://{ROLE}:{quote(secured.secrets[0], safe='')}@h/x",
    ):
        with pytest.raises(ConfigurationError) as config_info:
            await ga.connect(raw)
        errors[f"error: connect({raw.split(':', 1)[0]}:...)"] = config_info.value

    for name, error in errors.items():  # tracebacks read source files: off the loop
        sources[name] = await asyncio.to_thread(_error_text, error)

    # Everything logged meanwhile (the records and their arguments, formatted or not).
    engine_records = [r for r in caplog.records if r.name.startswith("sqlalchemy.engine")]
    assert engine_records, "the sqlalchemy.engine logger recorded nothing at DEBUG"
    sources["log records (formatted)"] = caplog.text
    sources["log records (raw arguments)"] = "\n".join(
        f"{r.name} {r.msg!r} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )

    leaks = _search("Python reprs, errors and logs", sources, secured.forms())
    assert not leaks, "\n".join(leaks)
