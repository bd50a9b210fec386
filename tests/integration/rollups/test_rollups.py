"""Rollups (migrations 0006, 0008): every overview panel answered from the rollups equals
the same panel from the base tables (``base_tables_only``), exactly, for random filters on random
data written through the application's writer role (inserts, upserts, updates that move
rows between groups, deletes, TRUNCATE, in any session zone); and the rollup tables equal
a rebuild from the base tables after every write. Also: the demo reload keeps them exact,
no application role can write them (also after provisioning again), and 0006 downgrades
and upgrades again with the rollups rebuilt."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import subprocess
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import URL

from gallery_analytics.db.admin import driver_dsn
from gallery_analytics.db.database import Database
from gallery_analytics.db.migrations.versions import rev_0006_rollups, rev_0008_overview_large
from gallery_analytics.db.roles import APP_ROLES, provision_database
from gallery_analytics.db.schema import alembic_config, upgrade_schema
from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.errors import GalleryAnalyticsError
from gallery_analytics.panels import PANELS
from gallery_analytics.queries.overview import base_tables_only
from tests.integration.db.test_migrations import _fetch, new_database, revisions

# Every rollup (0006, 0008) and the query that rebuilds it from the base tables.
REBUILD = {
    **rev_0006_rollups.REBUILD,
    **rev_0008_overview_large.REBUILD,
    # 0009 stores each daily row's month.
    "rollup_sales_daily": "SELECT *, date_trunc('month', day::timestamp)::date AS month "
    f"FROM ({rev_0006_rollups.REBUILD['rollup_sales_daily']}) AS daily",
}
ROLLUP_TABLES = rev_0006_rollups.ROLLUP_TABLES + rev_0008_overview_large.ROLLUP_TABLES

USERS = [str(uuid.UUID(int=1 + n)) for n in range(3)]
ARTISTS = [str(uuid.UUID(int=100 + n)) for n in range(4)]
# Two artists share a name: the top artists' order must not depend on the plan.
ARTIST_NAMES = ["Ana", "Ben", "Ben", "Cy"]
EXHIBITIONS = [str(uuid.UUID(int=200 + n)) for n in range(3)]
MEDIUMS = ["Oil", "Photography", "Unknown", None]  # "Unknown" is also NULL's label
CURRENCIES = ["EUR", "USD", "GBP"]
FIRST_DAY = dt.date(2023, 12, 1)
DAYS = 500  # the data's calendar: 2023-12-01 .. 2025-04-13
TODAY = dt.date(2024, 6, 15)
ZONES = ["UTC", "Pacific/Kiritimati", "America/Anchorage"]


def _rates() -> list[tuple[str, dt.date, Decimal]]:
    """Rates with gaps, so every money panel has something it cannot convert."""
    rates = []
    for index in range(17):
        month = dt.date(2023 + (11 + index) // 12, (11 + index) % 12 + 1, 1)
        if index % 5 != 3:
            rates.append(("USD", month, Decimal("0.9") + Decimal(index) / 97))
        if index % 4 != 1:
            rates.append(("GBP", month, Decimal("1.1") + Decimal(index) / 89))
    return rates


async def _setup(db: Database) -> None:
    async with db.driver_transaction(write=True) as connection:
        await connection.executemany(
            "INSERT INTO users (id, email, display_name) VALUES ($1, $2, $3)",
            [(user, f"u{n}@example.org", f"User {n}") for n, user in enumerate(USERS)],
        )
        await connection.executemany(
            "INSERT INTO artists (id, owner_id, name, nationality, gender) "
            "VALUES ($1, $2, $3, $4, $5)",
            [
                (artist, USERS[n % 2], ARTIST_NAMES[n], ["FR", None][n % 2], None)
                for n, artist in enumerate(ARTISTS)
            ],
        )
        await connection.executemany(
            "INSERT INTO exhibitions (id, curator_id, title, venue, city, starts_on, ends_on) "
            "VALUES ($1, $2, 'Show', 'Hall', 'Town', $3, $4)",
            [
                (show, USERS[n], FIRST_DAY, FIRST_DAY + dt.timedelta(days=DAYS))
                for n, show in enumerate(EXHIBITIONS)
            ],
        )
        await connection.executemany(
            "INSERT INTO exchange_rates (currency, month, rate) VALUES ($1, $2, $3)", _rates()
        )


def _moment(day: int, minute: int) -> dt.datetime:
    """A UTC instant: ``minute`` of the day (near midnight matters: UTC days and months)."""
    return dt.datetime.combine(
        FIRST_DAY + dt.timedelta(days=day), dt.time.min, tzinfo=dt.UTC
    ) + dt.timedelta(minutes=minute)


_minute = st.sampled_from([0, 1, 600, 1439])
_day = st.integers(0, DAYS - 1)
_price = st.decimals(Decimal("0"), Decimal("5000"), places=2)

_artwork = st.tuples(
    st.integers(0, len(ARTISTS) - 1),
    st.integers(0, len(USERS) - 1),
    st.sampled_from(MEDIUMS),
    st.sampled_from(list(ArtworkStatus)),
    st.none() | _price,
    st.none() | _day,
    _minute,
    st.none() | st.integers(0, len(EXHIBITIONS) - 1),
)
_sale = st.tuples(st.integers(0, 10**6), _day, _minute, _price, st.sampled_from(CURRENCIES))
_visit = st.tuples(st.integers(0, len(EXHIBITIONS) - 1), _day, st.integers(0, 50))
_slice = st.tuples(st.integers(1, 15), st.integers(0, 20))

_write = st.one_of(
    st.tuples(st.just("artworks"), st.lists(_artwork, min_size=1, max_size=8)),
    st.tuples(st.just("sales"), st.lists(_sale, min_size=1, max_size=10)),
    st.tuples(st.just("visits"), st.lists(_visit, min_size=1, max_size=12)),
    st.tuples(
        st.just("update_artworks"),
        _slice,
        st.sampled_from(["medium", "status", "artist_id", "owner_id", "acquired_at", "list_price"]),
        st.integers(0, 10**6),
    ),
    st.tuples(
        st.just("update_sales"),
        _slice,
        st.sampled_from(["sold_at", "price", "currency", "artwork_id"]),
        st.integers(0, 10**6),
    ),
    st.tuples(st.just("update_visits"), _slice, st.integers(-3, 3)),
    st.tuples(
        st.just("delete"),
        st.sampled_from(["sales", "exhibition_visits", "exhibition_artworks"]),
        _slice,
    ),
    st.tuples(st.just("delete_unsold_artworks"), _slice),
    st.tuples(st.just("truncate"), st.sampled_from(["sales", "exhibition_visits", "all"])),
)

_date = st.none() | st.dates(FIRST_DAY - dt.timedelta(days=40), dt.date(2025, 5, 31))


@st.composite
def _filters(draw: st.DrawFn) -> OverviewFilters:
    start, end = draw(_date), draw(_date)
    if start is not None and end is not None and end < start:
        start, end = end, start
    return OverviewFilters(
        start=start,
        end=end,
        mediums=tuple(draw(st.lists(st.sampled_from(MEDIUMS[:3]), max_size=2))),
        status=draw(st.none() | st.sampled_from(list(ArtworkStatus))),
        user_id=draw(st.none() | st.sampled_from(USERS)),
        artist_id=draw(st.none() | st.sampled_from(ARTISTS)),
        currency=draw(st.sampled_from(CURRENCIES)),
        top_n=draw(st.integers(1, 4)),
        today=TODAY,
    )


async def _write_rows(db: Database, zone: str, write: tuple[Any, ...]) -> None:
    kind = write[0]
    async with db.driver_transaction(write=True) as connection:
        # The triggers must take UTC days, months and weeks whatever the writer's zone.
        await connection.execute(f"SET LOCAL TimeZone = '{zone}'")
        if kind == "artworks":
            for artist, owner, medium, status, price, day, minute, show in write[1]:
                artwork = str(uuid.uuid4())
                acquired = None if day is None else _moment(day, minute)
                await connection.execute(
                    "INSERT INTO artworks (id, artist_id, owner_id, title, medium, status, "
                    "list_price, acquired_at) VALUES ($1, $2, $3, 'Work', $4, $5, $6, $7)",
                    artwork,
                    ARTISTS[artist],
                    USERS[owner],
                    medium,
                    status.value,
                    price,
                    acquired,
                )
                if show is not None:
                    await connection.execute(
                        "INSERT INTO exhibition_artworks (exhibition_id, artwork_id) "
                        "VALUES ($1, $2)",
                        EXHIBITIONS[show],
                        artwork,
                    )
        elif kind == "sales":
            artworks = [row[0] for row in await connection.fetch("SELECT id FROM artworks")]
            if artworks:
                await connection.copy_records_to_table(  # COPY, as the demo reload writes
                    "sales",
                    columns=["id", "artwork_id", "sold_at", "price", "currency"],
                    records=[
                        (uuid.uuid4(), artworks[pick % len(artworks)], _moment(day, m), p, c)
                        for pick, day, m, p, c in write[1]
                    ],
                )
        elif kind == "visits":  # an upsert: INSERT and UPDATE transition tables at once
            await connection.executemany(
                "INSERT INTO exhibition_visits (exhibition_id, day, visitors) "
                "VALUES ($1, $2, $3) ON CONFLICT (exhibition_id, day) "
                "DO UPDATE SET visitors = exhibition_visits.visitors + excluded.visitors",
                [
                    (EXHIBITIONS[show], FIRST_DAY + dt.timedelta(days=day), visitors)
                    for show, day, visitors in write[1]
                ],
            )
        elif kind == "update_artworks":
            (limit, offset), column, seed = write[1], write[2], write[3]
            value: Any = {
                "medium": MEDIUMS[seed % len(MEDIUMS)],
                "status": list(ArtworkStatus)[seed % len(ArtworkStatus)].value,
                "artist_id": ARTISTS[seed % len(ARTISTS)],
                "owner_id": USERS[seed % len(USERS)],
                "acquired_at": None if seed % 3 == 0 else _moment(seed % DAYS, seed % 1440),
                "list_price": None if seed % 3 == 0 else Decimal(seed % 100_000) / 100,
            }[column]
            cast = {"status": "::artwork_status", "artist_id": "::uuid", "owner_id": "::uuid"}
            await connection.execute(
                f"UPDATE artworks SET {column} = $1{cast.get(column, '')} WHERE id IN "
                "(SELECT id FROM artworks ORDER BY id LIMIT $2 OFFSET $3)",
                value,
                limit,
                offset,
            )
        elif kind == "update_sales":
            (limit, offset), column, seed = write[1], write[2], write[3]
            assignment = {
                "sold_at": f"sold_at + interval '{seed % 90 - 45} days {seed % 1440} minutes'",
                "price": f"price + {seed % 1000}.{seed % 100:02d}",
                "currency": f"'{CURRENCIES[seed % len(CURRENCIES)]}'",
                "artwork_id": f"(SELECT id FROM artworks ORDER BY id OFFSET {seed % 7} LIMIT 1)",
            }[column]
            await connection.execute(
                f"UPDATE sales SET {column} = coalesce({assignment}, {column}) WHERE id IN "
                "(SELECT id FROM sales ORDER BY id LIMIT $1 OFFSET $2)",
                limit,
                offset,
            )
        elif kind == "update_visits":
            (limit, offset), shift = write[1], write[2]
            await connection.execute(
                "UPDATE exhibition_visits SET visitors = greatest(visitors + $3, 0) "
                "WHERE (exhibition_id, day) IN (SELECT exhibition_id, day FROM "
                "exhibition_visits ORDER BY day, exhibition_id LIMIT $1 OFFSET $2)",
                limit,
                offset,
                shift,
            )
        elif kind == "delete":
            table, (limit, offset) = write[1], write[2]
            key = {
                "sales": "id",
                "exhibition_visits": "(exhibition_id, day)",
                "exhibition_artworks": "(exhibition_id, artwork_id)",
            }[table]
            await connection.execute(
                f"DELETE FROM {table} WHERE {key} IN "
                f"(SELECT {key.strip('()')} FROM {table} ORDER BY 1 LIMIT $1 OFFSET $2)",
                limit,
                offset,
            )
        elif kind == "delete_unsold_artworks":
            limit, offset = write[1]
            await connection.execute(
                "DELETE FROM artworks WHERE id IN (SELECT id FROM artworks a WHERE NOT EXISTS "
                "(SELECT FROM sales s WHERE s.artwork_id = a.id) ORDER BY id LIMIT $1 OFFSET $2)",
                limit,
                offset,
            )
        elif kind == "truncate":
            tables = (
                "sales, exhibition_artworks, artworks, exhibition_visits"
                if write[1] == "all"
                else write[1]
            )
            await connection.execute(f"TRUNCATE {tables}")


async def _answers(db: Database, filters: OverviewFilters) -> dict[str, list[tuple[Any, ...]]]:
    """Every panel's rows and every exclusion's rows, in the order the query gives them."""
    answers: dict[str, list[tuple[Any, ...]]] = {}
    async with db.read_session() as session:
        for panel in PANELS:
            answers[panel.name] = [
                tuple(row) for row in await session.execute(panel.query(filters))
            ]
            if panel.excluded is not None:
                excluded = await session.execute(panel.excluded.query(filters))
                answers[f"{panel.name} (excluded)"] = [tuple(row) for row in excluded]
    return answers


async def rollup_differences(
    db: Database,
    tables: tuple[str, ...] = ROLLUP_TABLES,
    rebuild: dict[str, str] = REBUILD,
) -> dict[str, tuple[int, int]]:
    """Per rollup table that differs from its rebuild: (rows missing, rows extra)."""
    differences = {}
    async with db.read_session() as session:
        for table in tables:
            rebuilt = rebuild[table]
            missing = await session.scalar(
                text(f"SELECT count(*) FROM (({rebuilt}) EXCEPT ALL TABLE {table}) AS d")
            )
            extra = await session.scalar(
                text(f"SELECT count(*) FROM (TABLE {table} EXCEPT ALL ({rebuilt})) AS d")
            )
            if missing or extra:
                differences[table] = (missing, extra)
    return differences


async def _replenish(db: Database, zone: str) -> None:
    """Rows enough for every write and filter to matter (hypothesis draws small lists,
    and TRUNCATE empties tables): a batch of artworks with sales and visits whenever
    fewer than 20 artworks are left."""
    async with db.read_session() as session:
        artworks = await session.scalar(text("SELECT count(*) FROM artworks"))
    if artworks >= 20:
        return
    rng = random.Random(artworks)
    await _write_rows(
        db,
        zone,
        (
            "artworks",
            [
                (
                    rng.randrange(len(ARTISTS)),
                    rng.randrange(len(USERS)),
                    rng.choice(MEDIUMS),
                    rng.choice(list(ArtworkStatus)),
                    None if rng.random() < 0.2 else Decimal(rng.randrange(100_000)) / 100,
                    None if rng.random() < 0.1 else rng.randrange(DAYS),
                    rng.choice([0, 1, 600, 1439]),
                    None if rng.random() < 0.3 else rng.randrange(len(EXHIBITIONS)),
                )
                for _ in range(30)
            ],
        ),
    )
    sales = [
        (
            rng.randrange(10**6),
            rng.randrange(DAYS),
            rng.choice([0, 1, 600, 1439]),
            Decimal(rng.randrange(500_000)) / 100,
            rng.choice(CURRENCIES),
        )
        for _ in range(60)
    ]
    await _write_rows(db, zone, ("sales", sales))
    visits = [
        (rng.randrange(len(EXHIBITIONS)), rng.randrange(DAYS), rng.randrange(60))
        for _ in range(120)
    ]
    await _write_rows(db, zone, ("visits", visits))


@pytest.fixture
async def gallery(empty_db: Database) -> Database:
    await _setup(empty_db)
    return empty_db


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    writes=st.lists(_write, min_size=1, max_size=4),
    zone=st.sampled_from(ZONES),
    filters=st.lists(_filters(), min_size=1, max_size=3),
)
async def test_rollup_answers_equal_base_table_answers(
    gallery: Database,
    writes: list[tuple[Any, ...]],
    zone: str,
    filters: list[OverviewFilters],
) -> None:
    """Examples run one after another on one database, so the data grows, changes and is
    truncated across them; each checks the rollups against a rebuild and every panel
    against the base tables."""
    await _replenish(gallery, zone)
    for write in writes:
        await _write_rows(gallery, zone, write)
    assert await rollup_differences(gallery) == {}
    for chosen in filters:
        from_rollups = await _answers(gallery, chosen)
        with base_tables_only():
            from_base = await _answers(gallery, chosen)
        assert from_rollups == from_base, chosen


@contextlib.contextmanager
def _cpu_burners() -> Iterator[None]:
    """One busy loop per core: transactions interleave the way a busy server makes them."""
    burners = [
        subprocess.Popen(["sh", "-c", "while :; do :; done"], start_new_session=True)
        for _ in range(len(os.sched_getaffinity(0)))
    ]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
        for burner in burners:
            burner.wait()


async def test_concurrent_writers_keep_the_rollups_exact(gallery: Database) -> None:
    """Six writers at once add, move and delete rows of the same groups (same artworks,
    days and weeks); every committed statement's deltas land once, none is lost.
    A deadlock between two writers (one holds rows the other's next statement needs while
    it waits for the data version row, migration 0005) rolls one back; it is retried, as
    an application would."""
    await _replenish(gallery, "UTC")

    async def writer(seed: int) -> None:
        rng = random.Random(seed)
        for round_number in range(6):
            write: tuple[Any, ...] = rng.choice(
                [
                    (
                        "sales",
                        [
                            (rng.randrange(5), rng.randrange(3), 0, Decimal("1.25"), "EUR")
                            for _ in range(4)
                        ],
                    ),
                    (
                        "update_artworks",
                        (5, 0),
                        rng.choice(["medium", "status"]),
                        seed + round_number,
                    ),
                    ("update_sales", (6, rng.randrange(4)), "price", seed),
                    ("delete", "sales", (2, rng.randrange(5))),
                    ("visits", [(0, rng.randrange(3), 5) for _ in range(3)]),
                ]
            )
            for _attempt in range(5):
                try:
                    await _write_rows(gallery, "UTC", write)
                    break
                except GalleryAnalyticsError as error:
                    if not isinstance(error.__cause__, asyncpg.DeadlockDetectedError):
                        raise
                    await asyncio.sleep(rng.random() / 20)

    burning = _cpu_burners()
    await asyncio.to_thread(burning.__enter__)  # off the event loop (it forks)
    try:
        await asyncio.gather(*(writer(seed) for seed in range(6)))
    finally:
        await asyncio.to_thread(burning.__exit__, None, None, None)
    assert await rollup_differences(gallery) == {}


async def test_the_demo_reload_keeps_the_rollups_exact(fresh_db: Database) -> None:
    """seed_demo TRUNCATEs and COPYs every table (foreign keys and indexes dropped): the
    rollups equal their rebuild afterwards, and the panels read them."""
    from gallery_analytics.demo.load import seed_demo

    await seed_demo(fresh_db, size="small", seed=7, progress=False)
    assert await rollup_differences(fresh_db) == {}
    async with fresh_db.read_session() as session:
        assert await session.scalar(text("SELECT sum(sales) FROM rollup_sales_monthly")) == (
            await session.scalar(text("SELECT count(*) FROM sales"))
        )
    everything = OverviewFilters(today=TODAY)
    with base_tables_only():
        expected = await _answers(fresh_db, everything)
    assert await _answers(fresh_db, everything) == expected


@pytest.mark.parametrize("role", [APP_ROLES.writer, APP_ROLES.reader])
async def test_no_application_role_can_write_a_rollup(
    server_url: URL, fresh_db: Database, role: str
) -> None:
    """Only the triggers (the owner's) write rollups, also after provisioning again (the
    writer's default privileges grant every table)."""
    for _ in range(2):
        url = fresh_db.admin_url
        for table in ROLLUP_TABLES:
            for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
                (allowed,) = (
                    await _fetch(
                        url, f"SELECT has_table_privilege('{role}', '{table}', '{privilege}')"
                    )
                )[0]
                assert allowed is False, (table, privilege)
            assert (
                await _fetch(url, f"SELECT has_table_privilege('{role}', '{table}', 'SELECT')")
            )[0] == (True,)
        assert fresh_db.url.database is not None
        await provision_database(server_url, fresh_db.url.database)
    connection = await asyncpg.connect(driver_dsn(fresh_db.url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("DELETE FROM rollup_sales_monthly")
    finally:
        await connection.close()


async def test_revision_0006_round_trip(server_url: URL) -> None:
    """Down to 0005 removes the rollups, triggers and functions; up again rebuilds them
    from the rows there."""
    async with new_database(server_url) as db:
        await upgrade_schema(db.admin_url, revision="0006")
        await _setup(db)
        await _write_rows(
            db, "UTC", ("artworks", [(0, 0, "Oil", ArtworkStatus.SOLD, None, 3, 0, 0)])
        )
        await _write_rows(db, "UTC", ("sales", [(0, 5, 1, Decimal("12.50"), "USD")]))
        await asyncio.to_thread(command.downgrade, alembic_config(db.admin_url), "0005")
        assert await revisions(db.admin_url) == ["0005"]
        left = await _fetch(
            db.admin_url,
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'rollup%' UNION ALL "
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'rollup%' UNION ALL "
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'rollup%'",
        )
        assert left == [(0,), (0,), (0,)]
        await _write_rows(db, "UTC", ("sales", [(0, 9, 1, Decimal("3.00"), "EUR")]))
        await upgrade_schema(db.admin_url, revision="0006")
        assert await revisions(db.admin_url) == ["0006"]
        assert (
            await rollup_differences(db, rev_0006_rollups.ROLLUP_TABLES, rev_0006_rollups.REBUILD)
            == {}
        )
        async with db.read_session() as session:
            assert await session.scalar(text("SELECT sum(sales) FROM rollup_sales_daily")) == 2


async def test_revision_0008_round_trip(server_url: URL) -> None:
    """Down to 0007 (from head) removes the exhibition-works rollup, its triggers, functions and the
    covering indexes; up again rebuilds it from the links there."""
    async with new_database(server_url) as db:
        await upgrade_schema(db.admin_url)
        await _setup(db)
        await _write_rows(
            db, "UTC", ("artworks", [(0, 0, "Oil", ArtworkStatus.SOLD, None, 3, 0, 0)])
        )
        await asyncio.to_thread(command.downgrade, alembic_config(db.admin_url), "0007")
        assert await revisions(db.admin_url) == ["0007"]
        left = await _fetch(
            db.admin_url,
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'rollup_exhibition%' "
            "OR relname IN ('ix_artworks_acquired_at_artist_id', "
            "'ix_artworks_medium_status_acquired_at') "
            "UNION ALL SELECT count(*) FROM pg_proc WHERE proname LIKE 'rollup_exhibition%' "
            "UNION ALL SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'rollup_works%'",
        )
        assert left == [(0,), (0,), (0,)]
        await _write_rows(
            db, "UTC", ("artworks", [(1, 1, None, ArtworkStatus.SOLD, None, None, 0, 1)])
        )
        await upgrade_schema(db.admin_url)
        assert await rollup_differences(db) == {}
        async with db.read_session() as session:
            assert await session.scalar(text("SELECT sum(works) FROM rollup_exhibition_works")) == 2
