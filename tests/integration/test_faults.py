"""Fault injection against a real server: restarts, killed backends, interrupted writes,
kernel interrupts. Each scenario records (scenario, expected, observed) for the table
printed at the end of the run."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from gallery_analytics.db.admin import create_database
from gallery_analytics.db.database import Database
from gallery_analytics.db.embedded import EmbeddedPostgres
from gallery_analytics.db.models import User
from gallery_analytics.db.schema import upgrade_schema
from gallery_analytics.demo.load import seed_demo
from gallery_analytics.services.dashboard import DashboardService
from tests.fault_table import FAULT_TABLE
from tests.helpers import count_rows
from tests.integration.services.test_dashboard import _running_queries, _sleeping_panel

PANELS = ["monthly_revenue", "top_artists", "key_figures"]


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A server of this module's own: these tests stop and restart it."""
    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("faults-pg")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def faults_db(own_server: EmbeddedPostgres) -> AsyncIterator[Database]:
    url = make_url(await asyncio.to_thread(own_server.start))
    name = f"faults_{os.getpid()}_{time.monotonic_ns()}"
    await create_database(url, name)
    async with Database(url.set(database=name)) as db:
        await upgrade_schema(db.admin_url)
        await seed_demo(db, size="small", progress=False)
        yield db


async def _wait_until_running(db: Database, count: int) -> None:
    for _ in range(200):
        if len(await _running_queries(db)) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the slow queries never started")


async def test_database_restarted_between_two_loads(
    faults_db: Database, own_server: EmbeddedPostgres
) -> None:
    service = DashboardService(faults_db)
    first = await service.get_gallery_overview(panels=PANELS)
    assert not first.failed
    await asyncio.to_thread(own_server.stop)
    await asyncio.to_thread(own_server.start)
    second = await service.get_gallery_overview(panels=PANELS)  # pooled connections are dead
    assert not second.failed, second.failed
    assert second["key_figures"].rows == first["key_figures"].rows
    FAULT_TABLE.append(
        (
            "restart between two loads",
            "next load succeeds",
            f"{len(second.panels) - len(second.failed)}/{len(second.panels)} panels ok",
        )
    )


async def test_a_load_in_flight_during_a_restart_fails_clearly(
    faults_db: Database, own_server: EmbeddedPostgres
) -> None:
    service = DashboardService(faults_db)
    load = asyncio.create_task(
        service.get_gallery_overview(panels=[_sleeping_panel("slow", 30), "key_figures"])
    )
    await _wait_until_running(faults_db, 1)
    await asyncio.to_thread(own_server.stop)  # fast shutdown: backends terminated
    try:
        result = await asyncio.wait_for(load, timeout=30)
    finally:
        await asyncio.to_thread(own_server.start)
    slow = result["slow"]
    assert slow.status == "error"
    assert "unavailable" in (slow.error or "")
    assert "Traceback" not in (slow.error or "")
    recovered = await service.get_gallery_overview(panels=PANELS)
    assert not recovered.failed
    assert faults_db.pool_status()["checked_out"] == 0
    FAULT_TABLE.append(
        (
            "restart during a load",
            "in-flight panel fails clearly; next load ok",
            f"slow panel: {slow.error}; next load ok",
        )
    )


async def test_a_killed_backend_fails_one_panel_only(faults_db: Database) -> None:
    service = DashboardService(faults_db)
    load = asyncio.create_task(
        service.get_gallery_overview(panels=[_sleeping_panel("victim", 30), *PANELS])
    )
    await _wait_until_running(faults_db, 1)
    async with faults_db.connection(write=True) as connection:
        killed = await connection.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
            )
        )
        await connection.commit()
    assert killed == 1
    result = await asyncio.wait_for(load, timeout=30)
    assert result["victim"].status == "error"
    assert [p.name for p in result.failed] == ["victim"]
    again = await service.get_gallery_overview(panels=PANELS)  # the pool recovered
    assert not again.failed
    assert faults_db.pool_status()["checked_out"] == 0
    FAULT_TABLE.append(
        (
            "pg_terminate_backend during a panel",
            "that panel errors, others ok, pool recovers",
            f"victim: {result['victim'].error}; {len(PANELS)}/{len(PANELS)} others ok; next ok",
        )
    )


@pytest.mark.parametrize("interruption", ["exception", "cancellation"])
async def test_an_interrupted_write_leaves_nothing(faults_db: Database, interruption: str) -> None:
    email = f"{interruption}@example.org"
    flushed = asyncio.Event()

    async def write() -> None:
        async with faults_db.write_session() as session:
            session.add(User(email=email, display_name="Half written"))
            await session.flush()
            flushed.set()
            if interruption == "exception":
                raise RuntimeError("failure after the first insert")
            await session.execute(text("SELECT pg_sleep(30)"))

    task = asyncio.create_task(write())
    await flushed.wait()
    if interruption == "cancellation":
        await asyncio.sleep(0.1)
        task.cancel()
    with pytest.raises((RuntimeError, asyncio.CancelledError)):
        await task
    assert await count_rows(faults_db, "users", "email = :email", email=email) == 0
    assert faults_db.pool_status()["checked_out"] == 0
    FAULT_TABLE.append(
        (f"write interrupted by {interruption}", "nothing half-written", "0 rows, pool clean")
    )


KERNEL_SETUP = """
from sqlalchemy import String, cast, func, select
import gallery_analytics as ga
from gallery_analytics.domain.columns import ColumnSpec, Kind
from gallery_analytics.panels import Panel
db = await ga.connect()
slow = [Panel(f"slow{i}", "slow", (ColumnSpec("slept", Kind.STRING),),
              lambda _: select(cast(func.pg_sleep(30), String).label("slept")))
        for i in range(3)]
"""


def test_a_kernel_interrupt_cancels_the_queries(faults_db: Database) -> None:
    """A real kernel: interrupting a cell that awaits a load cancels it on the server."""
    url: URL = faults_db.url
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    environment["GALLERY_DATABASE_URL"] = url.render_as_string(hide_password=False)
    manager, client = start_new_kernel(kernel_name="python3", env=environment)
    observer = Database(url)
    try:
        assert client.execute_interactive(KERNEL_SETUP, timeout=60)["content"]["status"] == "ok"
        cell = client.execute("await ga.DashboardService(db).get_gallery_overview(panels=slow)")
        asyncio.run(_running(observer, 3))
        interrupted = time.monotonic()
        manager.interrupt_kernel()
        while True:
            reply = client.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == cell:
                break
        seconds = time.monotonic() - interrupted
        assert reply["content"]["status"] == "error"
        assert seconds < 5, f"the interrupt took {seconds:.1f} s"
        assert asyncio.run(_quiet(observer)) == []
        printed: list[str] = []
        client.execute_interactive(
            "print(db.pool_status()['checked_out'])",
            timeout=30,
            output_hook=lambda m: printed.append(m["content"].get("text", "")),
        )
        assert "".join(printed).strip() == "0"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    FAULT_TABLE.append(
        (
            "kernel interrupt during a load",
            "queries cancelled, connections returned",
            f"cell cancelled in {seconds:.2f} s; 0 queries running; 0 checked out",
        )
    )


async def _running(observer: Database, count: int) -> None:
    # Closes the pool of asyncio.run's loop before it ends; observer stays usable.
    async with observer:
        await _wait_until_running(observer, count)


async def _quiet(observer: Database) -> list[str]:
    async with observer:
        for _ in range(100):
            running = await _running_queries(observer)
            if not running:
                return running
            await asyncio.sleep(0.05)
        return running
