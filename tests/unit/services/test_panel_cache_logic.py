"""The panel cache's pure parts: single-flight under cancellation and failure (plain
asyncio, no database), a result's age, and where the report shows it."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from gallery_analytics.domain.columns import ColumnSpec, Kind
from gallery_analytics.domain.results import PanelResult
from gallery_analytics.services.panel_cache import _SingleFlight

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


class Work:
    """Work that waits until released, counting how often it started and was cancelled."""

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0
        self.release = asyncio.Event()
        self.running = asyncio.Event()

    async def __call__(self) -> str:
        self.started += 1
        self.running.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return "rows"


async def test_concurrent_callers_share_one_run() -> None:
    flights: _SingleFlight[str] = _SingleFlight()
    work = Work()
    callers = [asyncio.create_task(flights.run("k", work)) for _ in range(20)]
    await work.running.wait()
    work.release.set()
    assert await asyncio.gather(*callers) == ["rows"] * 20
    assert work.started == 1
    assert flights.flights == {}  # forgotten once done: the next call runs again
    assert await flights.run("k", work) == "rows"
    assert work.started == 2


async def test_the_first_caller_cancelled_leaves_the_work_to_the_others() -> None:
    flights: _SingleFlight[str] = _SingleFlight()
    work = Work()
    first = asyncio.create_task(flights.run("k", work))
    await work.running.wait()
    others = [asyncio.create_task(flights.run("k", work)) for _ in range(3)]
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    work.release.set()
    assert await asyncio.gather(*others) == ["rows"] * 3
    assert (work.started, work.cancelled) == (1, 0)


async def test_a_waiter_cancelled_leaves_cleanly() -> None:
    flights: _SingleFlight[str] = _SingleFlight()
    work = Work()
    first = asyncio.create_task(flights.run("k", work))
    await work.running.wait()
    waiter = asyncio.create_task(flights.run("k", work))
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):  # a caller whose own budget ran out
            await asyncio.shield(waiter)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    work.release.set()
    assert await first == "rows"
    assert (work.started, work.cancelled) == (1, 0)


async def test_every_caller_gone_cancels_the_work() -> None:
    flights: _SingleFlight[str] = _SingleFlight()
    work = Work()
    callers = [asyncio.create_task(flights.run("k", work)) for _ in range(3)]
    await work.running.wait()
    for caller in callers:
        caller.cancel()
    for caller in callers:
        with pytest.raises(asyncio.CancelledError):
            await caller
    assert work.cancelled == 1  # ended before the last caller's cancellation completed
    assert flights.flights == {}


async def test_a_caller_joining_work_being_cancelled_takes_over() -> None:
    """The last caller left and cancelled the work just as another joined: the newcomer
    is not cancelled with it; it runs the work again."""
    flights: _SingleFlight[str] = _SingleFlight()
    work = Work()
    first = asyncio.create_task(flights.run("k", work))
    await work.running.wait()
    first.cancel()  # runs before the newcomer: leaves as the last caller, cancels the work
    newcomer = asyncio.create_task(flights.run("k", work))
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.sleep(0.01)
    work.release.set()
    assert await newcomer == "rows"
    assert (work.started, work.cancelled) == (2, 1)


async def test_a_failure_reaches_every_caller_and_is_not_kept() -> None:
    flights: _SingleFlight[str] = _SingleFlight()
    calls = 0

    async def failing() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise TimeoutError("took longer than its budget")

    callers = [asyncio.create_task(flights.run("k", failing)) for _ in range(5)]
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(outcome, TimeoutError) for outcome in outcomes)
    assert calls == 1
    with pytest.raises(TimeoutError):
        await flights.run("k", failing)
    assert calls == 2


def _result(**cache: object) -> PanelResult:
    return PanelResult(
        name="cache_probe",
        title="Cache probe",
        status="ok",
        columns=(ColumnSpec("x", Kind.INT),),
        rows=({"x": 1},),
        row_count=1,
        wall_seconds=0.1,
        **cache,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "cached 0 s ago"),
        (40.7, "cached 40 s ago"),
        (119, "cached 119 s ago"),
        (120, "cached 2 min ago"),
        (7199, "cached 119 min ago"),
        (7200, "cached 2 h ago"),
    ],
)
def test_age_text(seconds: float, text: str) -> None:
    result = _result(cached_at=NOW - dt.timedelta(seconds=seconds), from_cache=True)
    assert result.age_text(now=NOW) == text
    assert result.age_seconds(now=NOW) == pytest.approx(seconds)


def test_a_result_read_for_this_load_has_no_age() -> None:
    assert _result(cached_at=NOW).age_seconds(now=NOW) is None
    assert _result().age_text(now=NOW) is None
    with pytest.raises(Exception, match="time zone"):
        _result(cached_at=dt.datetime(2026, 1, 1), from_cache=True)


def test_a_cached_result_survives_json() -> None:
    result = _result(cached_at=NOW, from_cache=True)
    assert PanelResult.model_validate_json(result.model_dump_json()) == result


def test_the_report_shows_a_cached_panels_age() -> None:
    pytest.importorskip("IPython")
    from gallery_analytics import reports

    cached = _result(cached_at=dt.datetime.now(dt.UTC), from_cache=True)
    shown = reports.show_panel(cached)
    assert "cached 0 s ago" in shown[-1].data
    assert 'class="gallery-panel-age"' in shown[-1].data
    assert len(reports.show_panel(_result())) == len(shown) - 1
