"""`gallery-analytics db start --replica` and friends, end to end in a throwaway
directory: the replica is made from the embedded primary, the seed streams to it,
`connect()` reads from it, and `db stop` stops both."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli

# What a notebook does: connect() with nothing configured, then read.
_READ_WHERE = """
import asyncio, gallery_analytics as ga
from sqlalchemy import text
async def main():
    async with await ga.connect() as db:
        async with db.read_session() as s:
            print("in_recovery", await s.scalar(text("SELECT pg_is_in_recovery()")))
asyncio.run(main())
"""


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"GALLERY_EMBEDDED_DIR": str(home)}, timeout=180)


def test_db_start_replica_makes_a_streaming_replica_that_reads_use(tmp_path: Path) -> None:
    home = tmp_path / "gallery"
    try:
        started = _cli("db", "start", "--replica", home=home)
        assert started.returncode == 0, started.stderr
        assert "embedded replica running" in started.stdout

        seeded = _cli("seed", "--size", "small", "--no-progress", home=home)
        assert seeded.returncode == 0, seeded.stderr

        status = _cli("db", "status", home=home)
        assert status.returncode == 0, status.stderr
        assert "embedded replica: running" in status.stdout
        assert "replay lag" in status.stdout

        url = _cli("db", "url", "--replica", home=home)
        assert url.returncode == 0, url.stderr
        assert url.stdout.startswith("postgresql+asyncpg://gallery_reader@/gallery?host=")
        assert "replica" in url.stdout

        reads = subprocess.run(
            [sys.executable, "-c", _READ_WHERE],
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")},
                "GALLERY_EMBEDDED_DIR": str(home),
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert reads.returncode == 0, reads.stderr
        assert "in_recovery True" in reads.stdout
    finally:
        stopped = _cli("db", "stop", home=home)
    assert stopped.returncode == 0, stopped.stderr
    assert "embedded replica stopped" in stopped.stdout
    assert "embedded PostgreSQL stopped" in stopped.stdout
    after = _cli("db", "status", home=home).stdout
    assert "embedded replica: stopped" in after
    # Started again without the flag: the replica it has comes back too.
    try:
        again = _cli("db", "start", home=home)
        assert "embedded replica running" in again.stdout
    finally:
        _cli("db", "stop", home=home)
