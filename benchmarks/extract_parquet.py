"""Stream a result bigger than comfortable memory to Parquet: time, throughput and peak RSS.

Issue 15's "bigger than memory" half: ``extract_to_parquet`` must write 10M rows of
benchmarks/extract.py's shape (bigint x2, text x2, numeric(12,2), timestamptz, float8,
bool; NULLs in two columns) with a peak RSS of at most 300 MB. Contenders:

* ``gallery_analytics``  ``await extract_to_parquet(db, query, path)``
* ``adbc_parquet``       ADBC ``fetch_record_batch()`` streamed batch by batch into
  ``pyarrow.parquet.ParquetWriter`` (pyarrow's defaults, snappy). ADBC's opaque numeric
  (PostgreSQL's text) is cast to float64 per batch, as the project stores it, so both
  files hold the same column types and their sizes and MB/s compare
* ``gallery_analytics_iter_batches``  ``async for frame in iter_batches(db, query)``,
  rows counted, no file: what an analyst processing in chunks pays

Each run of each contender is a fresh child process (benchmarks/extract.py's workers:
numpy, pandas and pyarrow imported before the baseline RSS, the extraction timed with
connecting included, VmHWM read afterwards). Repeats are interleaved and the median is
reported (default one: a 10M-row run is long). Outside the timing and after the peak was
read, the child checks the written file's row count in its footer
(``ParquetFile(path).metadata.num_rows``) against the table's. Files go to a temporary
directory and each is deleted after its run. MB/s is the file's size over the time.
A contender whose function has not landed in gallery_analytics.frames reports
"unavailable" instead of failing the run.

The table ``bench_extract_10m`` lives in extract.py's scratch database
(``gallery_bench_extract``), built by the same helper and reused while its row count
matches (building 10M rows, 1.3 GB, took 20 s here). ``--rows`` other than 10M uses a
small table of its own (``bench_extract_parquet_small``), so the 10M one is kept.

    .venv/bin/python benchmarks/extract_parquet.py [--rows 10000000] [--repeat 1]
        [--only gallery_analytics,adbc_parquet] [--rebuild]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extract import (
    COLUMNS,
    DATABASE_NAME,
    URL_ENV,
    Unavailable,
    adbc_uri,
    current_rss_kib,
    frames_function,
    peak_rss_kib,
    prepare_dataset,
    project_database,
    run_child,
)
from sqlalchemy.engine import URL, make_url

DEFAULT_ROWS = 10_000_000
LARGE_TABLE = "bench_extract_10m"
SMALL_TABLE = "bench_extract_parquet_small"
TABLE_ENV = "GALLERY_BENCH_PARQUET_TABLE"
PATH_ENV = "GALLERY_BENCH_PARQUET_PATH"
TARGET_PEAK_MIB = 300.0  # gallery_analytics' peak RSS for 10M rows, at most
WORKER_TIMEOUT_SECONDS = 1800.0


@dataclass(frozen=True, slots=True)
class Contender:
    name: str
    label: str
    writes_file: bool = True


CONTENDERS: tuple[Contender, ...] = (
    Contender("gallery_analytics", "gallery_analytics extract_to_parquet"),
    Contender("adbc_parquet", "ADBC record batches -> ParquetWriter"),
    Contender("gallery_analytics_iter_batches", "gallery_analytics iter_batches (no file)", False),
)
BY_NAME = {contender.name: contender for contender in CONTENDERS}


def table_for(rows: int) -> str:
    return LARGE_TABLE if rows == DEFAULT_ROWS else SMALL_TABLE


# -- worker side: one extraction in a fresh process -----------------------------------------


@dataclass(slots=True)
class Streamed:
    seconds: float
    rows: int


Runner = Callable[[str, Path], Streamed]


def _load_gallery_analytics(url: URL) -> Runner:
    extract_to_parquet = frames_function("extract_to_parquet")
    db = project_database(url)

    async def extract(query: str, path: Path) -> Streamed:
        async with db:
            started = time.perf_counter()
            summary = await extract_to_parquet(db, query, path)
            seconds = time.perf_counter() - started
        return Streamed(seconds, int(summary.rows))

    return lambda query, path: asyncio.run(extract(query, path))


def _load_gallery_analytics_iter_batches(url: URL) -> Runner:
    iter_batches = frames_function("iter_batches")
    db = project_database(url)

    async def extract(query: str) -> Streamed:
        rows = 0
        async with db:
            started = time.perf_counter()
            async for frame in iter_batches(db, query):
                rows += len(frame)
            seconds = time.perf_counter() - started
        return Streamed(seconds, rows)

    return lambda query, _path: asyncio.run(extract(query))


def _load_adbc_parquet(url: URL) -> Runner:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from adbc_driver_postgresql import dbapi

    uri = adbc_uri(url)

    def plain(batch: pa.RecordBatch) -> pa.RecordBatch:
        """Opaque numeric (PostgreSQL's text) as float64; other opaque types as text."""
        arrays = []
        for array in batch.columns:
            if isinstance(array.type, pa.BaseExtensionType):
                numeric = getattr(array.type, "type_name", None) == "numeric"
                array = pc.cast(array.storage, pa.float64()) if numeric else array.storage
            arrays.append(array)
        return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)

    def extract(query: str, path: Path) -> Streamed:
        rows = 0
        started = time.perf_counter()
        with dbapi.connect(uri) as connection, connection.cursor() as cursor:
            cursor.execute(query)
            writer: pq.ParquetWriter | None = None
            try:
                for batch in cursor.fetch_record_batch():
                    converted = plain(batch)
                    if writer is None:
                        writer = pq.ParquetWriter(path, converted.schema)
                    writer.write_batch(converted)
                    rows += converted.num_rows
            finally:
                if writer is not None:
                    writer.close()
        return Streamed(time.perf_counter() - started, rows)

    return extract


LOADERS: dict[str, Callable[[URL], Runner]] = {
    "gallery_analytics": _load_gallery_analytics,
    "adbc_parquet": _load_adbc_parquet,
    "gallery_analytics_iter_batches": _load_gallery_analytics_iter_batches,
}


def run_worker(name: str) -> int:
    """Child process: import, record baseline RSS, stream once, print one JSON line."""
    import json

    report: dict[str, Any] = {"name": name}
    try:
        import numpy  # noqa: F401
        import pandas  # noqa: F401
        import pyarrow.parquet as pq

        url = make_url(os.environ[URL_ENV])
        query = f"SELECT * FROM {os.environ[TABLE_ENV]}"
        path = Path(os.environ[PATH_ENV])
        runner = LOADERS[name](url)
        report["baseline_rss_kib"] = current_rss_kib()
        streamed = runner(query, path)
        report["peak_rss_kib"] = peak_rss_kib()
        report["seconds"] = streamed.seconds
        report["rows"] = streamed.rows
        report["status"] = "ok"
        # Outside the timing and after the peak was read.
        if BY_NAME[name].writes_file:
            report["file_bytes"] = path.stat().st_size
            parquet = pq.ParquetFile(path)
            report["file_rows"] = parquet.metadata.num_rows
            report["schema"] = {column.name: str(column.type) for column in parquet.schema_arrow}
    except Unavailable as exc:
        report.update(status="unavailable", reason=str(exc))
    except Exception as exc:
        traceback.print_exc()
        report.update(status="error", reason=f"{type(exc).__name__}: {exc}".splitlines()[0])
    print(json.dumps(report), flush=True)
    return 0 if report["status"] != "error" else 1


# -- orchestrator side -------------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    contender: Contender
    runs: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.runs) and self.problem is None

    def median(self, key: str) -> float:
        return float(statistics.median(run[key] for run in self.runs))

    def peak_mib(self) -> float:
        return self.median("peak_rss_kib") / 1024

    def peak_delta_mib(self) -> float:
        deltas = ((run["peak_rss_kib"] - run["baseline_rss_kib"]) / 1024 for run in self.runs)
        return float(statistics.median(deltas))


def run_all(
    selected: Sequence[Contender], url: URL, table: str, repeat: int, directory: Path
) -> dict[str, Results]:
    results = {contender.name: Results(contender) for contender in selected}
    script = Path(__file__)
    for attempt in range(1, repeat + 1):
        for contender in selected:
            result = results[contender.name]
            if result.problem is not None:
                continue
            path = directory / f"{contender.name}-{attempt}.parquet"
            try:
                report = run_child(
                    contender.name,
                    url,
                    script=script,
                    env_extra={TABLE_ENV: table, PATH_ENV: str(path)},
                    timeout_seconds=WORKER_TIMEOUT_SECONDS,
                )
            finally:
                path.unlink(missing_ok=True)  # a 10M-row file is hundreds of MB
            status = report.get("status")
            if status != "ok":
                result.problem = f"{status}: {report.get('reason', '?')}"
                print(f"  [{attempt}/{repeat}] {contender.name:<31} {result.problem}", flush=True)
                continue
            result.runs.append(report)
            print(
                f"  [{attempt}/{repeat}] {contender.name:<31} {report['seconds']:7.2f} s"
                f"  peak {report['peak_rss_kib'] / 1024:6.0f} MB",
                flush=True,
            )
    return results


def verify(results: dict[str, Results], rows: int) -> list[str]:
    """Every run's row count, and every written file's footer count, equal the table's."""
    problems: list[str] = []
    for name, result in results.items():
        for run in result.runs:
            if run["rows"] != rows:
                problems.append(f"{name}: reported {run['rows']:,} rows, table has {rows:,}")
            if "file_rows" in run and run["file_rows"] != rows:
                problems.append(f"{name}: file holds {run['file_rows']:,} rows, want {rows:,}")
    return problems


def print_table(results: dict[str, Results]) -> None:
    header = (
        f"{'contender':<40} {'rows':>11} {'median s':>9} {'Mrows/s':>8} {'file MB':>8} "
        f"{'MB/s':>7} {'peak MB':>8} {'peak-base':>9} {'runs':>5}"
    )
    print(header)
    print("-" * len(header))
    for result in results.values():
        label = result.contender.label
        if not result.ok:
            print(f"{label:<40} {result.problem}")
            continue
        seconds = result.median("seconds")
        rows = int(result.median("rows"))
        if result.contender.writes_file:
            megabytes = result.median("file_bytes") / 2**20
            size, rate = f"{megabytes:8.0f}", f"{megabytes / seconds:7.1f}"
        else:
            size, rate = f"{'-':>8}", f"{'-':>7}"
        print(
            f"{label:<40} {rows:>11,} {seconds:9.2f} {rows / seconds / 1e6:8.2f} {size} "
            f"{rate} {result.peak_mib():8.0f} {result.peak_delta_mib():9.0f} "
            f"{len(result.runs):>5}"
        )


def print_targets(results: dict[str, Results], rows: int) -> None:
    print()
    scale = "" if rows == DEFAULT_ROWS else f" (target set for 10M rows; this run: {rows:,})"
    for result in results.values():
        if not result.ok:
            continue
        peak = result.peak_mib()
        verdict = "met" if peak <= TARGET_PEAK_MIB else "missed"
        target = " <- the target" if result.contender.name == "gallery_analytics" else " (info)"
        print(
            f"{result.contender.name:<31} peak RSS <= {TARGET_PEAK_MIB:.0f} MB: {verdict} "
            f"({peak:.0f} MB){target}{scale}"
        )
    schemas = {
        name: result.runs[0]["schema"]
        for name, result in results.items()
        if result.ok and "schema" in result.runs[0]
    }
    if len(schemas) == 2:
        (first, one), (second, other) = schemas.items()
        differing = [column for column in one if one[column] != other.get(column)]
        if differing:
            details = ", ".join(
                f"{column} {one[column]} vs {other.get(column)}" for column in differing
            )
            print(f"file column types differ ({first} vs {second}): {details}")
        else:
            print(f"file column types: the same in {first}'s and {second}'s files")


def _parse_only(raw: str | None) -> list[Contender]:
    if raw is None:
        return list(CONTENDERS)
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in BY_NAME]
    if unknown or not names:
        raise SystemExit(f"--only: unknown contender(s) {unknown}; choose from {list(BY_NAME)}")
    return [contender for contender in CONTENDERS if contender.name in names]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="table size (rows)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (median)")
    parser.add_argument("--only", metavar="NAME[,NAME]", help=f"subset of {', '.join(BY_NAME)}")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the table anyway")
    parser.add_argument("--worker", choices=list(BY_NAME), help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.worker is not None:
        return run_worker(arguments.worker)
    if arguments.rows < 1 or arguments.repeat < 1:
        parser.error("--rows and --repeat must be at least 1")
    selected = _parse_only(arguments.only)

    table = table_for(arguments.rows)
    url = asyncio.run(prepare_dataset(arguments.rows, arguments.rebuild, table=table))
    print(
        f"SELECT * FROM {table} ({DATABASE_NAME}): {arguments.rows:,} rows x {len(COLUMNS)} "
        f"columns; {os.cpu_count()} CPUs; median of {arguments.repeat} fresh process(es)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-extract-parquet-") as directory:
        results = run_all(selected, url, table, arguments.repeat, Path(directory))
    print()
    print_table(results)
    problems = verify(results, arguments.rows)
    if problems:
        print("\nverification FAILED:\n  " + "\n  ".join(problems))
    elif any(result.ok for result in results.values()):
        print("\nverified: every run's rows and every file's footer row count match the table")
    print_targets(results, arguments.rows)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
