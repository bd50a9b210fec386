"""Crashes at the worst moment: SIGKILL of the whole server right after a commit, or in
the middle of an import's COPY.

Each test runs its own embedded server in a temporary directory (the shared test
server must not die). "Killed" means every process of the server, postmaster first,
at once: nothing gets a chance to flush what it still held in memory.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from gallery_analytics import CatalogService, connect
from gallery_analytics.config import Settings
from gallery_analytics.db.admin import driver_dsn
from gallery_analytics.db.embedded import EmbeddedPostgres
from gallery_analytics.imports import import_collection
from tests.fault_table import FAULT_TABLE

pytestmark = pytest.mark.timeout(300)


def _server_pids(server: EmbeddedPostgres) -> list[int]:
    """The postmaster and all its children."""
    status = server.status()
    assert status.pid is not None, "the server is not running"
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == status.pid:
            children.append(int(stat.parent.name))
    return [status.pid, *children]


def kill_server(server: EmbeddedPostgres) -> None:
    """SIGKILL every server process, postmaster first."""
    for pid in _server_pids(server):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while server.status().running or server.status().pid is not None:
        if time.monotonic() > deadline:
            raise AssertionError("the killed server is still running")
        time.sleep(0.05)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[EmbeddedPostgres, Settings]]:
    """A private embedded server (started by connect()), stopped afterwards."""
    home = tmp_path / "gallery"
    server = EmbeddedPostgres(home)
    settings = Settings(embedded_dir=home)
    try:
        yield server, settings
    finally:
        server.stop()


def _write_collection(directory: Path, *, artists: int, artworks: int) -> tuple[Path, Path]:
    artists_csv = directory / "artists.csv"
    artworks_csv = directory / "artworks.csv"
    with artists_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "birth_year"])
        for number in range(artists):
            writer.writerow([f"A{number}", f"Artist {number}", 1900 + number % 100])
    with artworks_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "artist_id", "title", "medium", "year"])
        for number in range(artworks):
            writer.writerow(
                [f"W{number}", f"A{number % artists}", f"Work {number}", "Oil paint", 1950]
            )
    return artists_csv, artworks_csv


async def _count(server: EmbeddedPostgres, query: str) -> int:
    url = make_url(await _start(server)).set(database="gallery")
    connection = await asyncpg.connect(driver_dsn(url))
    try:
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


async def _start(server: EmbeddedPostgres) -> str:
    import asyncio

    return await asyncio.to_thread(server.start)


async def test_acknowledged_import_and_create_survive_a_kill_9(
    embedded: tuple[EmbeddedPostgres, Settings], tmp_path: Path
) -> None:
    """Commits that returned are on disk: kill -9 within a millisecond loses nothing."""
    import asyncio

    server, settings = embedded
    artists_csv, artworks_csv = await asyncio.to_thread(
        _write_collection, tmp_path, artists=3, artworks=5
    )
    async with await connect(settings=settings) as db:
        report = await import_collection(
            db, artists_csv=artists_csv, artworks_csv=artworks_csv, source="crash", progress=False
        )
        assert report.artworks["new"] == 5
        await asyncio.to_thread(kill_server, server)
    assert await _count(server, "SELECT count(*) FROM artworks WHERE source = 'crash'") == 5

    async with await connect(settings=settings) as db:
        owner = await _count(server, "SELECT count(*) FROM users")
        assert owner >= 1
        async with db.read_session() as session:
            from sqlalchemy import text

            owner_id = str(await session.scalar(text("SELECT id FROM users LIMIT 1")))
        artist = await CatalogService(db).create_artist(
            owner_id=owner_id, artist={"name": "Survives the crash", "nationality": "Dutch"}
        )
        await asyncio.to_thread(kill_server, server)
    found = await _count(server, f"SELECT count(*) FROM artists WHERE id = '{artist.id}'")
    FAULT_TABLE.append(
        (
            "kill -9 right after an import/create",
            "acknowledged rows survive",
            f"import 5/5 rows, create {found}/1 after restart",
        )
    )
    assert found == 1


def test_import_cli_fails_clearly_when_the_server_dies_during_copy(
    embedded: tuple[EmbeddedPostgres, Settings], tmp_path: Path
) -> None:
    """The CLI ends within a minute with one line, and nothing of the import is kept."""
    server, _ = embedded
    artists_csv, artworks_csv = _write_collection(tmp_path, artists=2_000, artworks=300_000)
    server_url = make_url(server.start())
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    environment["GALLERY_EMBEDDED_DIR"] = str(server.base_dir)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gallery_analytics.cli",
            "import",
            "--artists",
            str(artists_csv),
            "--artworks",
            str(artworks_csv),
            "--source",
            "killed",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        _wait_for_copy(server_url, process)
        kill_server(server)
        killed_at = time.monotonic()
        _, stderr = process.communicate(timeout=90)
        elapsed = time.monotonic() - killed_at
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    lines = [line for line in stderr.splitlines() if line.strip()]
    FAULT_TABLE.append(
        (
            "server killed during an import's COPY",
            "CLI fails in < 60 s, one line, nothing kept",
            f"exit {process.returncode} after {elapsed:.1f} s: {lines[-1] if lines else ''}"[:160],
        )
    )
    assert elapsed < 60
    assert process.returncode not in (0, None)
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")

    import asyncio

    kept = asyncio.run(_count(server, "SELECT count(*) FROM artworks WHERE source = 'killed'"))
    assert kept == 0


def _wait_for_copy(server_url: object, process: subprocess.Popen[str]) -> None:
    """Block until the import's COPY is running on the server."""
    import asyncio

    async def poll() -> None:
        url = make_url(str(server_url)).set(database="postgres")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            try:
                connection = await asyncpg.connect(driver_dsn(url))
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.05)
                continue
            try:
                while time.monotonic() < deadline:
                    assert process.poll() is None, "the import ended before its COPY was seen"
                    copying = await connection.fetchval(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE query ILIKE 'COPY%' AND datname = 'gallery'"
                    )
                    if copying:
                        return
                    await asyncio.sleep(0.01)
            finally:
                await connection.close()
        raise AssertionError("the import's COPY never started")

    asyncio.run(poll())
