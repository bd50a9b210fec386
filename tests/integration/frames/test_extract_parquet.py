"""extract_to_parquet and `gallery-analytics extract`: the file holds exactly the rows
extract_frame gives, nothing half-written is ever left at the path or beside it (errors,
cancellation, SIGKILL, a file that appears meanwhile), and existing files are replaced
only when asked."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import asyncpg
import pandas as pd
import pandas.testing as pdt
import pyarrow.parquet as pq
import pytest
from sqlalchemy.engine import URL

from gallery_analytics.db.admin import driver_dsn
from gallery_analytics.db.database import Database
from gallery_analytics.errors import (
    DatabaseError,
    OutputExistsError,
    OutputPathError,
    ValidationError,
)
from gallery_analytics.frames import extract_frame, extract_to_parquet
from gallery_analytics.frames.dtypes import STRING_DTYPE
from tests.conftest import cli_command, cli_environment, run_cli

MIXED = """
    SELECT w.id, w.title, w.year_created, w.list_price, w.acquired_at, w.status,
           w.list_price > 5000 AS pricey, e.starts_on, NULLIF(w.year_created % 7, 0) AS maybe
    FROM artworks w
    LEFT JOIN exhibition_artworks ea ON ea.artwork_id = w.id
    LEFT JOIN exhibitions e ON e.id = ea.exhibition_id
    ORDER BY w.id, e.starts_on
"""
# Many batches (the stream's are about 8 MB): long enough to be cancelled in the middle.
LONG = "SELECT g AS n, repeat(md5(g::text), 8) AS text FROM generate_series(1, 3000000) AS g"


async def _leftovers(directory: Path) -> list[str]:
    return sorted(await asyncio.to_thread(os.listdir, directory))


def _unfinished_bytes(directory: Path, pid: int | None = None) -> int:
    """Bytes in the file process ``pid`` (this one by default) is writing in ``directory``
    and has not yet put in place: found through its open descriptors, so a file with no
    name yet counts too (0 while there is none or it is empty)."""
    inside = os.path.realpath(directory) + os.sep
    descriptors = Path(f"/proc/{pid or os.getpid()}/fd")
    try:
        listed = list(descriptors.iterdir())
    except FileNotFoundError:  # the process has ended
        return 0
    for descriptor in listed:
        try:
            if os.readlink(descriptor).startswith(inside):
                return descriptor.stat().st_size
        except FileNotFoundError:  # closed meanwhile
            continue
    return 0


def _as_extract_frame(table_frame: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Parquet read back with pandas, in extract_frame's dtypes (nullable ints and dates
    are the only columns whose dtype pandas chooses differently)."""
    return table_frame.astype(reference.dtypes.to_dict())


async def test_file_holds_what_extract_frame_gives(seeded_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    written = await extract_to_parquet(seeded_db, MIXED, path)
    expected = await extract_frame(seeded_db, MIXED)
    table = await asyncio.to_thread(pq.read_table, path)
    assert written.rows == len(expected) == table.num_rows > 0
    assert written.columns == len(expected.columns)
    assert table.column_names == list(expected.columns)
    assert str(table.schema.field("acquired_at").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("list_price").type) == "double"
    assert str(table.schema.field("starts_on").type) == "date32[day]"
    read_back = table.to_pandas(types_mapper={table.schema.field("title").type: STRING_DTYPE}.get)
    pdt.assert_frame_equal(_as_extract_frame(read_back, expected), expected, check_exact=True)
    assert await _leftovers(tmp_path) == ["rows.parquet"]
    assert "rows" in written.summary()
    assert str(path) in written.summary()


async def test_parameters_and_an_empty_result(seeded_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "none.parquet"
    written = await extract_to_parquet(
        seeded_db, "SELECT id, list_price FROM artworks WHERE list_price > :p", path, {"p": 1e12}
    )
    assert written.rows == 0
    table = await asyncio.to_thread(pq.read_table, path)
    assert table.num_rows == 0
    assert table.column_names == ["id", "list_price"]


async def test_an_existing_file_is_replaced_only_with_force(
    seeded_db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "mine.csv"
    await asyncio.to_thread(path.write_text, "not yours\n")
    with pytest.raises(OutputExistsError):
        await extract_to_parquet(seeded_db, "SELECT 1 AS one", path)
    assert await asyncio.to_thread(path.read_text) == "not yours\n"
    await extract_to_parquet(seeded_db, "SELECT 1 AS one", path, force=True)
    assert (await asyncio.to_thread(pq.read_table, path)).column("one").to_pylist() == [1]
    with pytest.raises(OutputPathError):
        await extract_to_parquet(seeded_db, "SELECT 1 AS one", tmp_path)  # a directory
    assert await _leftovers(tmp_path) == ["mine.csv"]


async def test_a_file_that_appears_meanwhile_is_not_overwritten(
    seeded_db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "race.parquet"

    async def someone_else_writes() -> None:
        for _ in range(4000):  # a file, not an event, is awaited
            if await asyncio.to_thread(_unfinished_bytes, tmp_path):
                break
            await asyncio.sleep(0.005)
        await asyncio.to_thread(path.write_text, "theirs\n")

    other = asyncio.create_task(someone_else_writes())
    with pytest.raises(OutputExistsError, match="appeared while"):
        await extract_to_parquet(seeded_db, LONG, path)
    await other
    assert await asyncio.to_thread(path.read_text) == "theirs\n"
    assert await _leftovers(tmp_path) == ["race.parquet"]


async def test_an_error_in_the_middle_leaves_no_file(seeded_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    failing = "SELECT g, 1 / (g - 2500000) AS boom FROM generate_series(1, 3000000) AS g"
    with pytest.raises(DatabaseError, match="division by zero"):
        await extract_to_parquet(seeded_db, failing, path)
    assert await _leftovers(tmp_path) == []


async def test_cancelling_leaves_no_file_and_stops_the_query(
    seeded_db: Database, tmp_path: Path, server_url: URL
) -> None:
    path = tmp_path / "cancelled.parquet"
    task = asyncio.create_task(extract_to_parquet(seeded_db, LONG, path))
    # Cancel once the unfinished file has rows in it: the worst moment.
    for _ in range(2000):
        if await asyncio.to_thread(_unfinished_bytes, tmp_path):
            break
        await asyncio.sleep(0.005)
    else:
        pytest.fail("the extract never started writing")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _leftovers(tmp_path) == []
    # As the superuser: the read role's query is not visible to the writer's connection.
    admin = await asyncpg.connect(driver_dsn(server_url, database=seeded_db.url.database))
    try:
        for _ in range(100):
            running = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE state <> 'idle' "
                "AND query LIKE '%generate_series(1, 3000000)%' AND pid <> pg_backend_pid()"
            )
            if running == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    assert running == 0, "the server still runs the cancelled extract's query"


def test_a_killed_extract_leaves_nothing_behind(seeded_db: Database, tmp_path: Path) -> None:
    """SIGKILL while rows are being written, so no handler runs: neither the path nor a
    hidden partial file of hundreds of MB is left in the directory."""
    path = tmp_path / "killed.parquet"
    process = subprocess.Popen(
        cli_command("extract", LONG, "--out", str(path), "--no-progress"),
        env=cli_environment(seeded_db.url),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not _unfinished_bytes(tmp_path, process.pid):
            assert process.poll() is None, "the extract ended before it wrote a row"
            assert time.monotonic() < deadline, "the extract never started writing"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert sorted(os.listdir(tmp_path)) == []


async def test_repeated_column_names_are_refused_before_writing(
    seeded_db: Database, tmp_path: Path
) -> None:
    """pyarrow writes such a file, but pandas cannot read it back (found in review)."""
    with pytest.raises(ValidationError, match="aliases") as caught:
        await extract_to_parquet(seeded_db, "SELECT 1 AS a, 2 AS a, 3 AS b", tmp_path / "x.pq")
    assert caught.value.field == "query"
    assert await _leftovers(tmp_path) == []


def test_the_command_writes_a_file_and_refuses_to_overwrite(
    seeded_db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "sales.parquet"
    command = ["extract", "SELECT id, price FROM sales WHERE price > :p", "--out", str(path)]
    first = run_cli(*command, "--param", "p=1000", database_url=seeded_db.url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "wrote" in first.stdout
    assert "rows" in first.stdout
    table = pq.read_table(path)
    assert table.num_rows > 0
    assert min(table.column("price").to_pylist()) > 1000
    again = run_cli(*command, "--param", "p=1000", database_url=seeded_db.url, cwd=tmp_path)
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    bad = run_cli(*command, "--param", "p", database_url=seeded_db.url, cwd=tmp_path)
    assert bad.returncode != 0
    assert "NAME=VALUE" in bad.stderr
    assert sorted(os.listdir(tmp_path)) == ["sales.parquet"]


async def test_a_cancel_during_a_write_waits_for_it_before_closing(
    seeded_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer is used by one thread at a time: a cancel arriving while a batch is
    being written lets that write finish before the file is closed and removed (closing
    it from a second thread mid-write is a data race in pyarrow's C++ writer)."""
    overlaps: list[str] = []
    writing = threading.Event()

    class SlowWriter(pq.ParquetWriter):  # type: ignore[misc]
        def write_batch(self, *args: object, **kwargs: object) -> None:
            writing.set()
            time.sleep(0.3)
            super().write_batch(*args, **kwargs)
            writing.clear()

        def close(self) -> None:
            if writing.is_set():
                overlaps.append("closed while a batch was being written")
            super().close()

    monkeypatch.setattr(pq, "ParquetWriter", SlowWriter)
    task = asyncio.create_task(extract_to_parquet(seeded_db, LONG, tmp_path / "slow.parquet"))
    for _ in range(1000):
        if writing.is_set():
            break
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert overlaps == []
    assert await _leftovers(tmp_path) == []
