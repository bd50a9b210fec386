"""The Database object: event loops, read/write routing, pool hygiene, connect()."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from gallery_analytics import Database, connect, run_sync
from gallery_analytics.db.admin import create_database, drop_database
from tests.conftest import run_cli, unique_database_name


async def _count_users(db: Database) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(text("SELECT count(*) FROM users")) or 0)


def _run_script(script: str, db: Database, *, dev_mode: bool = True) -> list[str]:
    """Run ``script`` in a fresh interpreter with ``db``'s URL as its argument, and
    return its output lines. With ``dev_mode`` (``-X dev``) an unclosed connection shows
    as a ResourceWarning on stderr, which fails the test."""
    url = db.url.render_as_string(hide_password=False)
    flags = ["-X", "dev"] if dev_mode else []
    result = subprocess.run(
        [sys.executable, *flags, "-c", script, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ResourceWarning" not in result.stderr, result.stderr
    return result.stdout.splitlines()


def test_database_works_from_two_event_loops(seeded_db: Database) -> None:
    """asyncio.run creates a new loop each time; each gets its own engine and pool."""
    db = Database(seeded_db.url)
    first = asyncio.run(_count_users(db))
    second = asyncio.run(_count_users(db))
    assert first == second == 40

    # ...and from a loop running in another thread, while this one is idle.
    results: list[int] = []
    thread = threading.Thread(target=lambda: results.append(asyncio.run(_count_users(db))))
    thread.start()
    thread.join(timeout=30)
    assert results == [40]


def test_run_sync_runs_a_coroutine_from_plain_code(seeded_db: Database) -> None:
    db = Database(seeded_db.url)
    assert run_sync(_count_users(db)) == 40


RUN_SYNC_UNDER_A_LOOP = """
import asyncio, sys
from sqlalchemy import text
from gallery_analytics import Database, run_sync

db = Database(sys.argv[1])

async def count() -> int:
    async with db.read_session() as session:
        return int(await session.scalar(text("SELECT count(*) FROM users")))

def synchronous_callback() -> int:  # e.g. a widget handler: it cannot await
    return run_sync(count())

async def main() -> None:
    print(synchronous_callback(), await count())
    await db.dispose()

asyncio.run(main())
"""


def test_run_sync_works_under_a_running_loop(seeded_db: Database) -> None:
    """In a subprocess: the patch is applied to the running loop, which must not leak
    into the test session's own loop."""
    assert _run_script(RUN_SYNC_UNDER_A_LOOP, seeded_db, dev_mode=False) == ["40 40"]


RUN_SYNC_TWICE = """
import gc, sys, warnings
warnings.simplefilter("error", ResourceWarning)  # an unclosed connection fails the script
from sqlalchemy import text
from gallery_analytics import Database, run_sync

db = Database(sys.argv[1])

async def count() -> int:
    async with db.read_session() as session:
        return int(await session.scalar(text("SELECT count(*) FROM users")))

print(run_sync(count()), run_sync(count()))
gc.collect()
"""


def test_run_sync_twice_in_a_script_leaves_no_connection_open(seeded_db: Database) -> None:
    """Each run_sync loop closes the pools it opened before it closes: the first loop's
    pooled connections used to be left behind, one ResourceWarning each."""
    assert _run_script(RUN_SYNC_TWICE, seeded_db) == ["40 40"]


async def test_database_is_an_async_context_manager(seeded_db: Database) -> None:
    async with Database(seeded_db.url, read_url=seeded_db.read_url) as db:
        assert await _count_users(db) == 40
        assert db.pool_status()["idle"] >= 1
    assert db.pool_status() == {"checked_out": 0, "idle": 0}


NESTED_BLOCKS = """
import asyncio, gc, sys, warnings
warnings.simplefilter("error", ResourceWarning)
from sqlalchemy import text
from gallery_analytics import Database

async def main() -> None:
    async with Database(sys.argv[1]) as db:
        async with db.read_session() as session:
            async with db:  # e.g. a helper that also uses `async with db`
                pass
            print(await session.scalar(text("SELECT count(*) FROM users")))
        print(db.pool_status()["idle"] >= 1)
    print(db.pool_status())

asyncio.run(main())
gc.collect()
"""


def test_nested_async_with_blocks_close_the_pools_once_at_the_outermost_end(
    seeded_db: Database,
) -> None:
    """An inner block used to dispose the pools under the outer block's open session,
    leaving its connection unclosed (a ResourceWarning)."""
    lines = _run_script(NESTED_BLOCKS, seeded_db)
    assert lines == ["40", "True", "{'checked_out': 0, 'idle': 0}"]


async def test_same_database_in_this_loop_after_other_loops(seeded_db: Database) -> None:
    assert await _count_users(seeded_db) == 40


async def test_dispose_releases_connections_and_database_stays_usable(
    seeded_db: Database,
) -> None:
    db = Database(seeded_db.url)
    await asyncio.gather(*(_count_users(db) for _ in range(5)))
    assert db.pool_status()["idle"] >= 1
    await db.dispose()
    assert db.pool_status() == {"checked_out": 0, "idle": 0}
    assert await _count_users(db) == 40
    await db.dispose()


async def test_gathered_sessions_each_get_their_own_connection(seeded_db: Database) -> None:
    async def backend_pid() -> int:
        async with seeded_db.read_session() as session:
            pid = int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)
            await session.execute(text("SELECT pg_sleep(0.2)"))
            return pid

    pids = await asyncio.gather(*(backend_pid() for _ in range(4)))
    assert len(set(pids)) == 4


async def test_reads_go_to_the_read_url_and_writes_to_the_primary(
    server_url: URL, seeded_db: Database
) -> None:
    replica_name = unique_database_name("gallery_replica")
    await create_database(server_url, replica_name)
    db = Database(seeded_db.url, read_url=server_url.set(database=replica_name))
    try:
        async with db.read_session() as session:
            assert await session.scalar(text("SELECT current_database()")) == replica_name
        async with db.write_session() as session:
            assert await session.scalar(text("SELECT current_database()")) == seeded_db.url.database
    finally:
        await db.dispose()
        await drop_database(server_url, replica_name)


async def test_connect_uses_the_environment_url(
    seeded_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = seeded_db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setenv("GALLERY_DATABASE_URL", plain)
    db = await connect()
    try:
        assert db.url.drivername == "postgresql+asyncpg"
        assert db.url.database == seeded_db.url.database
        assert await _count_users(db) == 40
    finally:
        await db.dispose()


async def test_connect_with_an_explicit_url_wins_over_the_environment(
    seeded_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GALLERY_DATABASE_URL", "postgresql://nobody@/nowhere?host=/nonexistent")
    db = await connect(seeded_db.url)
    try:
        assert await _count_users(db) == 40
    finally:
        await db.dispose()


DISPOSE_UNDER_OPEN_SESSIONS = """
import asyncio, gc, sys, warnings
warnings.simplefilter("error", ResourceWarning)
from sqlalchemy import text
from gallery_analytics import Database

GONE = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")

async def gone(db, pid):
    for _ in range(50):  # the server ends a closed connection's backend within moments
        async with db.read_session() as session:
            if await session.scalar(GONE, {"pid": pid}) == 0:
                return True
        await asyncio.sleep(0.05)
    return False

async def main() -> None:
    db = Database(sys.argv[1])
    async with db.read_session() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        await db.dispose()  # e.g. a helper that ends its own `async with db`
        print(await session.scalar(text("SELECT count(*) FROM users")))  # still usable
    print(await gone(db, pid))
    async with db.connection(write=True) as connection:
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        await db.dispose()
    print(await gone(db, pid))
    await db.dispose()
    print(db.pool_status())

asyncio.run(main())
gc.collect()
"""


def test_dispose_under_an_open_session_closes_its_connection_when_the_session_ends(
    seeded_db: Database,
) -> None:
    """dispose() closes the idle connections at once and a checked-out one when its
    session ends: it used to go back to the discarded pool and stay open until garbage
    collection (a ResourceWarning, and a server backend held meanwhile)."""
    lines = _run_script(DISPOSE_UNDER_OPEN_SESSIONS, seeded_db)
    assert lines == ["40", "True", "True", "{'checked_out': 0, 'idle': 0}"]


def test_a_url_parameter_the_driver_refuses_exits_2_naming_it() -> None:
    """``?sslmode=bogus`` is a setting to fix (exit 2), not a statement the database
    rejected (exit 1); the message never repeats the URL or its password."""
    bogus = "postgresql://ann:pw-secret@127.0.0.1:1/gallery?sslmode=bogus"
    result = run_cli("summary", env={"GALLERY_DATABASE_URL": bogus}, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "`sslmode` parameter must be one of" in result.stderr
    assert "GALLERY_DATABASE_URL" in result.stderr
    assert "pw-secret" not in result.stderr + result.stdout
    assert "rejected the statement" not in result.stderr
