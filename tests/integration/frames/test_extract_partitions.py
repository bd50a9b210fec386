"""Partitioned extracts: N connections reading disjoint ranges under one exported snapshot
give exactly the single-stream result, stay consistent while another task writes, and
refuse bad arguments with project errors, leaving no connection behind.

Rows come range by range, so results are compared after sorting by a unique key.
Whether backends are left behind is read from pg_stat_activity as the superuser (the
application roles do not see each other's sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pandas as pd
import pandas.testing as pdt
import pytest
from sqlalchemy.engine import URL

from gallery_analytics.db.admin import driver_dsn
from gallery_analytics.db.database import Database
from gallery_analytics.errors import DatabaseError, GalleryAnalyticsError, ValidationError
from gallery_analytics.frames import extract_frame

# Every kind of partition column: int with repeats, uuid, timestamptz, an enum, numeric,
# text and int with NULLs, bool.
ARTWORKS = """
    SELECT id, title, year_created, acquired_at, status, list_price,
           CASE WHEN year_created % 5 = 0 THEN NULL ELSE title END AS maybe_title,
           CASE WHEN year_created % 3 = 0 THEN NULL ELSE acquired_at END AS maybe_acquired,
           NULLIF(year_created % 7, 0) AS maybe_int,
           year_created % 2 = 0 AS even
    FROM artworks
"""
COLUMNS = [
    "year_created",
    "id",
    "acquired_at",
    "status",
    "list_price",
    "maybe_title",
    "maybe_acquired",
    "maybe_int",
    "even",
]


def _by_key(frame: pd.DataFrame, key: str = "id") -> pd.DataFrame:
    return frame.sort_values(key, ignore_index=True, kind="stable")


@pytest.fixture(scope="module")
async def single(seeded_db: Database) -> pd.DataFrame:
    """The single-stream read every partitioned one must equal (seeded_db never changes)."""
    return _by_key(await extract_frame(seeded_db, ARTWORKS))


@pytest.mark.parametrize("partitions", [2, 3, 4])
@pytest.mark.parametrize("column", COLUMNS)
async def test_partitions_equal_one_stream(
    seeded_db: Database, single: pd.DataFrame, column: str, partitions: int
) -> None:
    parts = await extract_frame(seeded_db, ARTWORKS, partitions=partitions, partition_by=column)
    assert single[column].isna().any() == column.startswith("maybe")
    pdt.assert_frame_equal(_by_key(parts), single, check_exact=True)
    assert seeded_db.pool_status()["checked_out"] == 0


@pytest.mark.parametrize(
    ("query", "column"),
    [
        ("SELECT g AS n, 1 AS same FROM generate_series(1, 500) AS g", "same"),
        ("SELECT g AS n, NULL::int AS nothing FROM generate_series(1, 500) AS g", "nothing"),
        ("SELECT g AS n, g % 3 AS few FROM generate_series(1, 500) AS g", "few"),
        ("SELECT g AS n FROM generate_series(1, 500) AS g WHERE false", "n"),
        ("SELECT g AS n FROM generate_series(1, 5) AS g", "n"),
        (
            "SELECT g AS n, CASE WHEN g < 490 THEN NULL ELSE 'x' || g END AS rare "
            "FROM generate_series(1, 500) AS g",
            "rare",
        ),
        (
            "SELECT g AS n, (CASE g WHEN 1 THEN -9223372036854775808 "
            "WHEN 2 THEN 9223372036854775807 ELSE g * 1000 END)::int8 AS wide "
            "FROM generate_series(1, 500) AS g",
            "wide",
        ),
        ("SELECT g AS n, (-g % 300)::int2 AS small FROM generate_series(1, 500) AS g", "small"),
    ],
    ids=[
        "one value",
        "all null",
        "three values",
        "empty",
        "fewer rows than parts",
        "mostly null",
        "int8 extremes",
        "negative int2",
    ],
)
async def test_skewed_and_degenerate_columns(seeded_db: Database, query: str, column: str) -> None:
    """Fewer distinct values than partitions, NULLs only, no rows: still every row once."""
    whole = _by_key(await extract_frame(seeded_db, query), "n")
    for partitions in (2, 8, 64):
        parts = await extract_frame(seeded_db, query, partitions=partitions, partition_by=column)
        pdt.assert_frame_equal(_by_key(parts, "n"), whole, check_exact=True)


async def test_partitions_with_parameters_and_awkward_text(seeded_db: Database) -> None:
    """Bounds are quoted by the server: text with quotes, backslashes and unicode, and
    inlined parameters, split the same rows."""
    query = """
        SELECT g AS n, repeat(E'\\'"\\\\ü' , g % 4) || g AS awkward
        FROM generate_series(1, 2000) AS g WHERE g > :low
    """
    params = {"low": 100}
    whole = _by_key(await extract_frame(seeded_db, query, params), "n")
    assert len(whole) == 1900
    parts = await extract_frame(seeded_db, query, params, partitions=4, partition_by="awkward")
    pdt.assert_frame_equal(_by_key(parts, "n"), whole, check_exact=True)


# -- consistency while another task writes --------------------------------------------------

BIG = 1_000_000_000


@contextlib.asynccontextmanager
async def _writing_pairs(db: Database, table: str) -> AsyncIterator[list[int]]:
    """Keep inserting pairs (k, k + BIG) in one statement each, k = 1, 2, ... in order;
    yields (once 200 pairs are in) a list whose length is the pairs committed so far."""
    committed: list[int] = []
    stop = asyncio.Event()
    enough = asyncio.Event()

    async def write() -> None:
        async with db.admin_connection() as connection:
            while not stop.is_set():
                k = len(committed) + 1
                await connection.execute(
                    f"INSERT INTO {table} (k) VALUES ($1::bigint), ($1::bigint + {BIG})", k
                )
                committed.append(k)
                if k == 200:  # enough rows for four ranges
                    enough.set()

    writer = asyncio.create_task(write())
    started = asyncio.create_task(enough.wait())
    try:
        await asyncio.wait({writer, started}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        assert enough.is_set() or writer.done(), "the writer did not get going"
        if enough.is_set():
            yield committed
    finally:
        started.cancel()
        stop.set()
        await writer  # its own error, if it failed


async def test_partitions_read_one_moment_while_rows_are_inserted(fresh_db: Database) -> None:
    """A single writer commits pairs in key order, so any one moment of the table holds
    pairs 1..m, both halves of each. The halves fall in different partitions (the median
    bound lies between them): ranges read at different moments would split pairs or
    leave gaps. Each result must also lie between the pairs committed before the read
    began and those committed when it ended."""
    table = f"pairs_{uuid.uuid4().hex[:8]}"
    async with fresh_db.admin_connection() as admin:
        await admin.execute(f"CREATE TABLE {table} (k bigint PRIMARY KEY)")
    query = f"SELECT k FROM {table}"
    grew_during_a_read = 0
    async with _writing_pairs(fresh_db, table) as committed:
        for _ in range(6):
            before = len(committed)
            frame = await extract_frame(fresh_db, query, partitions=4, partition_by="k")
            after = len(committed)
            keys = sorted(frame["k"].tolist())
            low = [k for k in keys if k < BIG]
            high = [k - BIG for k in keys if k >= BIG]
            pairs = len(low)
            assert low == list(range(1, pairs + 1)), "a gap: ranges read different moments"
            assert high == low, "a split pair: ranges read different moments"
            assert before <= pairs <= after
            grew_during_a_read += after > before
    # Non-vacuous: writes really happened while partitioned reads ran.
    assert grew_during_a_read >= 1
    single = await extract_frame(fresh_db, query)
    assert len(single) == 2 * len(committed)


# -- arguments and failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "options", "field"),
    [
        ("SELECT id FROM artworks", {"partitions": 2, "partition_by": "title"}, "partition_by"),
        ("SELECT id, id FROM artworks", {"partitions": 2, "partition_by": "id"}, "partition_by"),
        ("SELECT id FROM artworks", {"partitions": 2}, "partition_by"),
        ("SELECT id FROM artworks", {"partitions": 2, "partition_by": ""}, "partition_by"),
        ("SELECT id FROM artworks", {"partitions": 2, "partition_by": 3}, "partition_by"),
        ("SELECT id FROM artworks", {"partitions": 0, "partition_by": "id"}, "partitions"),
        ("SELECT id FROM artworks", {"partitions": -1, "partition_by": "id"}, "partitions"),
        ("SELECT id FROM artworks", {"partitions": 65, "partition_by": "id"}, "partitions"),
        ("SELECT id FROM artworks", {"partitions": True, "partition_by": "id"}, "partitions"),
        ("SELECT id FROM artworks", {"partitions": 2.0, "partition_by": "id"}, "partitions"),
        ("SELECT id FROM artworks", {"partitions": "2", "partition_by": "id"}, "partitions"),
    ],
    ids=[
        "missing column",
        "repeated column",
        "no column",
        "empty name",
        "not a name",
        "zero",
        "negative",
        "too many",
        "bool",
        "float",
        "str",
    ],
)
async def test_bad_partitioning_is_a_validation_error(
    seeded_db: Database, server_url: URL, query: str, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await extract_frame(seeded_db, query, **options)
    assert caught.value.field == field
    await _assert_nothing_left(seeded_db, server_url)


async def test_an_unorderable_column_is_a_clear_error(seeded_db: Database, server_url: URL) -> None:
    query = "SELECT id, json_build_object('id', id) AS doc FROM artworks"
    with pytest.raises(GalleryAnalyticsError) as caught:
        await extract_frame(seeded_db, query, partitions=2, partition_by="doc")
    assert "ordering" in str(caught.value) or "doc" in str(caught.value), str(caught.value)
    await _assert_nothing_left(seeded_db, server_url)


@pytest.mark.parametrize(
    "expression",
    ["ARRAY[g % 7, g]", "ARRAY['a' || g, NULL]", "ROW(g % 5, g)"],
    ids=["int[]", "text[]", "record"],
)
async def test_an_orderable_column_splits_or_is_refused_by_name(
    seeded_db: Database, server_url: URL, expression: str
) -> None:
    """Arrays and records have an ordering, so the docstring's "any orderable type"
    covers them: the partitioned result equals one stream, or (if a type cannot be
    split) a ValidationError names partition_by, never the server's puzzle about
    internal queries ("could not find array type for data type text[]")."""
    query = f"SELECT g AS n, {expression} AS p FROM generate_series(1, 500) AS g"
    whole = _by_key(await extract_frame(seeded_db, query), "n")
    refused: ValidationError | None = None
    try:
        parts = await extract_frame(seeded_db, query, partitions=3, partition_by="p")
    except ValidationError as exc:
        refused = exc
    if refused is None:
        pdt.assert_frame_equal(_by_key(parts, "n"), whole, check_exact=True)
    else:
        assert refused.field == "partition_by"
    await _assert_nothing_left(seeded_db, server_url)


async def test_an_error_in_one_partition_stops_them_all(
    seeded_db: Database, server_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    """Division by zero in one range only (found while rows are read, not when bounds
    are computed: the bounds read only the partition column). Every other range's
    query is stopped too, and nothing is left unretrieved in a background task."""
    marker = f"probe_{uuid.uuid4().hex}"
    query = (
        f"SELECT '{marker}' AS marker, g AS n, 1 / (g - 600000) AS boom, md5(g::text) AS text "
        "FROM generate_series(1, 2000000) AS g"
    )
    gc.collect()  # what earlier tests left is theirs
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(DatabaseError, match="division by zero"):
            await extract_frame(seeded_db, query, partitions=4, partition_by="n")
        await _assert_nothing_left(seeded_db, server_url, marker=marker)
        gc.collect()
        await asyncio.sleep(0.1)
    assert not [record for record in caplog.records if "never retrieved" in record.getMessage()]


async def test_cancelling_a_partitioned_extract_stops_every_query(
    seeded_db: Database, server_url: URL
) -> None:
    """Each range's query would run for minutes: every row costs a small aggregate, which
    the bounds (reading only the partition column) skip."""
    marker = f"probe_{uuid.uuid4().hex}"
    query = (
        f"SELECT '{marker}' AS marker, g AS n, "
        "(SELECT count(*) FROM generate_series(1, 20000 + g % 7)) AS work "
        "FROM generate_series(1, 300000) AS g"
    )
    async with _superuser(server_url, seeded_db) as admin:
        task = asyncio.create_task(extract_frame(seeded_db, query, partitions=3, partition_by="n"))
        for _ in range(400):  # up to 20 s on a loaded machine
            if await _running(admin, marker, copying=True) == 3:
                break
            await asyncio.sleep(0.05)
        else:
            task.cancel()
            pytest.fail("the three partitions never ran together")
        await asyncio.sleep(0.5)  # into the reading of rows, past the streams' start
        task.cancel()
        # Watched from the cancel on, not once the task is done: a query left running
        # would otherwise end on its own at the statement timeout while the task waits.
        await _assert_nothing_left(seeded_db, server_url, marker=marker, pool=False)
        with pytest.raises(asyncio.CancelledError):
            await task
    assert seeded_db.pool_status()["checked_out"] == 0


@contextlib.asynccontextmanager
async def _superuser(server_url: URL, db: Database) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(driver_dsn(server_url, database=db.url.database))
    try:
        yield connection
    finally:
        await connection.close()


async def _running(connection: asyncpg.Connection, marker: str, *, copying: bool = False) -> int:
    """Backends busy with a query holding ``marker`` (``copying``: ADBC's COPY of it)."""
    return int(
        await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid() "
            "AND state <> 'idle' AND (NOT $2 OR query ILIKE 'COPY%')",
            marker,
            copying,
        )
    )


async def _assert_nothing_left(
    db: Database, server_url: URL, *, marker: str | None = None, pool: bool = True
) -> None:
    """No pooled connection checked out (``pool``), no transaction left open (the
    exporter's), and (``marker``) no backend still running the query; waits up to 5 s
    for them to end."""
    if pool:
        assert db.pool_status()["checked_out"] == 0
    async with _superuser(server_url, db) as admin:
        for _ in range(100):
            open_transactions = int(
                await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%'"
                )
            )
            running = await _running(admin, marker) if marker else 0
            if open_transactions == running == 0:
                return
            await asyncio.sleep(0.05)
    pytest.fail(f"left behind: {open_transactions} open transactions, {running} running queries")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT g AS n FROM generate_series(1, 5000) AS g ORDER BY random() LIMIT 100",
        "SELECT id, title FROM artworks LIMIT 50",
        "SELECT id, title FROM artworks TABLESAMPLE SYSTEM (50)",
    ],
)
async def test_a_query_that_may_pick_other_rows_each_run_is_refused(
    seeded_db: Database, server_url: URL, query: str
) -> None:
    """Each partition runs the query again: with LIMIT or TABLESAMPLE the partitions could
    each see other rows (a random LIMIT gave 1,006 rows of 1,000 before this check)."""
    key = "n" if " AS n " in query else "id"
    with pytest.raises(ValidationError) as caught:
        await extract_frame(seeded_db, query, partitions=3, partition_by=key)
    assert caught.value.field == "partitions"
    await _assert_nothing_left(seeded_db, server_url)
