"""Does the event loop stay responsive while an extract runs? (issue 15: a coroutine that
ticks every 10 ms sees no stall over 50 ms.)

While each extract reads the 1M-row table of ``benchmarks/extract.py``
(``gallery_bench_extract.bench_extract``, built there), a ticker coroutine sleeps 10 ms in
a loop and records how late each tick is. Printed per extract: ticks, the longest gap,
p99 and the number of gaps over 50 ms. Run quiet and again with one CPU-burning process
per core (as analysts' machines are when a kernel is busy), each repeat in this one
process (the first of each kind warms imports and the pool, and is not counted).

    .venv/bin/python benchmarks/extract_loop.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import percentile
from benchmarks.extract import QUERY, prepare_dataset
from gallery_analytics.config import Settings
from gallery_analytics.db.database import Database
from gallery_analytics.frames import extract_frame, extract_to_parquet, iter_batches
from tests.browser.harness import burn_cpus

TICK_SECONDS = 0.010
STALL_SECONDS = 0.050


async def _ticks_during(work: Callable[[], Awaitable[object]]) -> list[float]:
    """Gaps beyond the 10 ms sleep, in seconds, while ``work`` runs."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(TICK_SECONDS)
            now = time.perf_counter()
            gaps.append(now - last - TICK_SECONDS)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        await work()
    finally:
        done.set()
        await ticking
    return gaps


async def run(repeat: int) -> None:
    url = await prepare_dataset(1_000_000, rebuild=False)
    db = Database(url, settings=Settings.from_env())
    scratch = Path(tempfile.mkdtemp(prefix="extract-loop-"))

    async def frame() -> object:
        return await extract_frame(db, QUERY)

    async def batches() -> object:
        return sum([len(chunk) async for chunk in iter_batches(db, QUERY)])

    async def parquet() -> object:
        target = scratch / "rows.parquet"
        written = await extract_to_parquet(db, QUERY, target, force=True)
        await asyncio.to_thread(os.unlink, target)
        return written.rows

    works = {"extract_frame": frame, "iter_batches": batches, "extract_to_parquet": parquet}
    print(f"{'load':<22}{'extract':<20}{'ticks':>7}{'max ms':>9}{'p99 ms':>9}{'> 50 ms':>9}")
    async with db:
        for label, burning in (("quiet", False), ("CPU burner per core", True)):
            context = burn_cpus() if burning else None
            if context is not None:
                context.__enter__()
            try:
                for name, work in works.items():
                    await work()  # warm-up, not counted
                    gaps: list[float] = []
                    for _ in range(repeat):
                        gaps += await _ticks_during(work)
                    stalls = sum(gap > STALL_SECONDS for gap in gaps)
                    print(
                        f"{label:<22}{name:<20}{len(gaps):>7}{max(gaps) * 1000:>9.1f}"
                        f"{percentile(gaps, 0.99) * 1000:>9.1f}{stalls:>9}"
                    )
            finally:
                if context is not None:
                    context.__exit__(None, None, None)
    await asyncio.to_thread(os.rmdir, scratch)
    print(f"target: no gap over {STALL_SECONDS * 1000:.0f} ms (ticker every 10 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.repeat))


if __name__ == "__main__":
    main()
