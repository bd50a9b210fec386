"""Time pulling a large result into a pandas DataFrame: gallery_analytics vs its peers.

Measures, on one table of ``--rows`` rows (default 1,000,000) x 8 mixed columns (bigint,
text, numeric(12,2), timestamptz, double precision, boolean, an integer with ~10% NULLs
and a text with ~1 in 7 NULLs), how long each contender takes to turn
``SELECT * FROM bench_extract`` into a DataFrame, and how much memory it needs:

* ``gallery_analytics``  ``gallery_analytics.frames.extract_frame(db, query)``
* ``gallery_analytics_partitioned``  the same with ``partitions=2, partition_by="id"``
  (two connections under one exported snapshot; "unavailable" until frames has it)
* ``adbc_fetch_df``      ADBC (``adbc_driver_postgresql.dbapi``): ``execute``, then
  ``fetch_df()``: ADBC's own pandas, numeric left as opaque strings in object columns
* ``adbc_project_dtypes`` ADBC ``fetch_arrow_table()`` on the same query, converted on the
  client to the project's dtypes (numeric -> float64, int with NULLs -> Int64, text ->
  pyarrow strings, timestamptz tz-aware): "ADBC's speed with the project's dtypes";
  its dtypes are checked against gallery_analytics' (a mismatch is printed)
* ``adbc_stream``        ADBC ``fetch_record_batch()``, batches iterated, no pandas
* ``connectorx``         ``connectorx.read_sql(url, query, return_type="pandas")``
* ``pandas_read_sql``    ``pandas.read_sql`` over a sync SQLAlchemy engine with psycopg2
* ``sqlalchemy_rows``    SQLAlchemy AsyncEngine (asyncpg): ``execute``, ``.all()``, then
  ``pandas.DataFrame(rows, columns=...)``
* ``raw_copy``           asyncpg ``copy_from_query(format="binary")`` into a list of byte
  chunks, with no conversion at all: the floor any COPY-based extractor builds on

Every repeat of every contender runs in a fresh child process (``--worker NAME``), so
the peak RSS is that contender's alone. A child imports numpy, pandas and pyarrow plus
its own libraries, records its RSS (the baseline), then times the extraction alone
(connecting included, engine construction and imports not) and reports the peak RSS
(VmHWM) afterwards. The database server's memory is not counted. Repeats are
interleaved across contenders and the median is reported, since the machine is
shared and noisy. Row counts, column names and per-column NULL counts of the
DataFrame contenders (and the row count of the streamed ones) are compared outside
the timing.

The closing ratios are issue 15's targets, each printed with MET or MISSED: ADBC
time / project time >= 1.15 (against ``fetch_df`` and against ``adbc_project_dtypes``),
project time / binary COPY floor <= 1.5, and project peak RSS / ADBC ``fetch_df`` peak
RSS <= 1.1. The RSS target is read on absolute peaks (what the machine must have free,
the issue's table); peak minus baseline (the extraction's own growth) is printed too.

The table lives in the scratch database ``gallery_bench_extract`` on the embedded
server (or on GALLERY_DATABASE_URL's server); it is built once with one
``INSERT ... SELECT ... FROM generate_series`` and reused while its row count matches
(benchmarks/extract_parquet.py builds its 10M-row table with the same helper).

    .venv/bin/python benchmarks/extract.py [--rows 1000000] [--repeat 3]
        [--only gallery_analytics,adbc_fetch_df] [--rebuild] [--show-dtypes]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL, make_url

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

DATABASE_NAME = "gallery_bench_extract"
TABLE = "bench_extract"
QUERY = f"SELECT * FROM {TABLE}"
URL_ENV = "GALLERY_BENCH_EXTRACT_URL"
DEFAULT_ROWS = 1_000_000
WORKER_TIMEOUT_SECONDS = 900.0
# The pooled connection's client-side command timeout is the interactive one (45 s); a
# 10M-row build (benchmarks/extract_parquet.py) is one statement that takes longer.
BUILD_TIMEOUT_SECONDS = 3600.0

COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "bigint"),
    ("title", "text"),
    ("price", "numeric(12,2)"),
    ("created_at", "timestamptz"),
    ("score", "double precision"),
    ("on_display", "boolean"),
    ("edition_size", "integer"),
    ("note", "text"),
)

# Deterministic in the series value g: no random(), so every build holds the same data.
_VALUES = """
    g::bigint * 1000003,
    'artwork ' || left(md5(g::text), 6 + (g % 27)::int),
    ((g::bigint * 7919) % 100000000) / 100.0,
    timestamptz '2015-01-01 00:00:00+00' + g * interval '97 seconds',
    ((g::bigint * 2654435761) % 1000003) / 997.0,
    g % 3 = 0,
    CASE WHEN g % 10 = 0 THEN NULL ELSE (g % 5000)::integer END,
    CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || md5((g * 2)::text) END
"""

TARGET_VS_CONNECTORX = 1.0  # project time / ConnectorX time, at most
TARGET_READ_SQL_SPEEDUP = 5.0  # pandas.read_sql time / project time, at least
TARGET_RSS_VS_CONNECTORX = 1.5  # project peak RSS / ConnectorX peak RSS, at most
# Issue 15's targets.
TARGET_ADBC_SPEEDUP = 1.15  # ADBC time / project time, at least
TARGET_VS_FLOOR = 1.5  # project time / binary COPY floor time, at most
TARGET_RSS_VS_ADBC = 1.1  # project peak RSS / ADBC fetch_df peak RSS, at most
PARTITIONS = 2


@dataclass(frozen=True, slots=True)
class Contender:
    name: str
    label: str
    makes_frame: bool = True


CONTENDERS: tuple[Contender, ...] = (
    Contender("gallery_analytics", "gallery_analytics.frames.extract_frame"),
    Contender("gallery_analytics_partitioned", f"extract_frame(partitions={PARTITIONS}, by id)"),
    Contender("adbc_fetch_df", "ADBC fetch_df (numeric as object)"),
    Contender("adbc_project_dtypes", "ADBC Arrow -> the project's dtypes"),
    Contender("adbc_stream", "ADBC record batches (no pandas)", makes_frame=False),
    Contender("connectorx", "connectorx.read_sql"),
    Contender("pandas_read_sql", "pandas.read_sql (SQLAlchemy + psycopg2)"),
    Contender("sqlalchemy_rows", "SQLAlchemy asyncio rows -> DataFrame"),
    Contender("raw_copy", "raw binary COPY (asyncpg, floor)", makes_frame=False),
)
BY_NAME = {contender.name: contender for contender in CONTENDERS}


# -- worker side: one extraction in a fresh process -----------------------------------------


class Unavailable(Exception):
    """The contender cannot run here (e.g. its module is not written yet)."""


@dataclass(slots=True)
class Extraction:
    seconds: float
    frame: pd.DataFrame | None = None
    nbytes: int | None = None
    rows: int | None = None  # rows seen by a contender that makes no frame


Runner = Callable[[], Extraction]


def _proc_status_kib(key: str) -> int | None:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _maxrss_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS


def current_rss_kib() -> int:
    current = _proc_status_kib("VmRSS")
    return current if current is not None else _maxrss_kib()


def peak_rss_kib() -> int:
    peak = _proc_status_kib("VmHWM")
    return max(peak, _maxrss_kib()) if peak is not None else _maxrss_kib()


def connectorx_url(url: URL) -> str:
    """ConnectorX wants a host in the authority even for a Unix socket (``?host=`` wins)."""
    target = url.set(drivername="postgresql")
    if target.host is None:
        target = target.set(host="localhost")
    return target.render_as_string(hide_password=False)


def adbc_uri(url: URL) -> str:
    """A libpq URI for ADBC: ``postgresql://user:pass@host:port/db``, a Unix socket as
    ``?host=/dir`` (libpq, unlike ConnectorX, takes an empty host before the path).
    It holds the password: never print it."""
    from gallery_analytics.db.admin import driver_dsn

    return driver_dsn(url)


def frames_function(name: str, *, keyword: str | None = None) -> Any:
    """``gallery_analytics.frames.<name>``, or Unavailable while the lead's rewrite has not
    landed it (or ``keyword`` among its parameters): a benchmark reports, never crashes."""
    try:
        module = importlib.import_module("gallery_analytics.frames")
        function = getattr(module, name)
    except Exception as exc:  # not written yet, or half-written
        raise Unavailable(f"{type(exc).__name__}: {exc}") from exc
    if keyword is not None and keyword not in inspect.signature(function).parameters:
        raise Unavailable(f"gallery_analytics.frames.{name} has no {keyword}= yet")
    return function


def project_database(url: URL) -> Any:
    """The project's Database for ``url`` (constructed, not connected: no I/O)."""
    from gallery_analytics.config import Settings
    from gallery_analytics.db.database import Database

    return Database(url, settings=Settings.from_env())


def _extract_frame_runner(url: URL, **options: Any) -> Runner:
    extract_frame = frames_function("extract_frame", keyword=next(iter(options), None))
    db = project_database(url)

    async def extract() -> Extraction:
        async with db:
            started = time.perf_counter()
            frame = await extract_frame(db, QUERY, **options)
            seconds = time.perf_counter() - started
        return Extraction(seconds, frame)

    return lambda: asyncio.run(extract())


def _load_gallery_analytics(url: URL) -> Runner:
    return _extract_frame_runner(url)


def _load_gallery_analytics_partitioned(url: URL) -> Runner:
    return _extract_frame_runner(url, partitions=PARTITIONS, partition_by="id")


def _load_adbc_fetch_df(url: URL) -> Runner:
    from adbc_driver_postgresql import dbapi

    uri = adbc_uri(url)

    def extract() -> Extraction:
        started = time.perf_counter()
        with dbapi.connect(uri) as connection, connection.cursor() as cursor:
            cursor.execute(QUERY)
            frame = cursor.fetch_df()
        return Extraction(time.perf_counter() - started, frame)

    return extract


def project_dtypes_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table from ADBC as a DataFrame with the project's dtypes, converted the
    way any client of ADBC would have to: column by column, without a consolidating copy."""
    import pandas as pd

    columns = {
        name: _project_series(column)
        for name, column in zip(table.column_names, table.columns, strict=True)
    }
    return pd.DataFrame(columns, copy=False)


def _project_series(column: pa.ChunkedArray) -> Any:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column.type, pa.BaseExtensionType):
        # ADBC's opaque types (numeric among them) carry PostgreSQL's text in their storage.
        storage = pa.chunked_array(
            [chunk.storage for chunk in column.chunks], type=column.type.storage_type
        )
        numeric = getattr(column.type, "type_name", None) == "numeric"
        column = pc.cast(storage, pa.float64()) if numeric else storage
    arrow_type = column.type
    if pa.types.is_integer(arrow_type):
        if column.null_count:
            return column.to_pandas(types_mapper=lambda _: pd.Int64Dtype())
        return column.cast(pa.int64()).to_pandas()
    if pa.types.is_boolean(arrow_type) and column.null_count:
        return column.to_pandas(types_mapper=lambda _: pd.BooleanDtype())
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return column.to_pandas(types_mapper=lambda _: pd.StringDtype("pyarrow"))
    return column.to_pandas()  # float64 (NULL as NaN), bool, timestamptz stays tz-aware


def _load_adbc_project_dtypes(url: URL) -> Runner:
    from adbc_driver_postgresql import dbapi

    uri = adbc_uri(url)

    def extract() -> Extraction:
        started = time.perf_counter()
        with dbapi.connect(uri) as connection, connection.cursor() as cursor:
            cursor.execute(QUERY)
            table = cursor.fetch_arrow_table()
        frame = project_dtypes_frame(table)
        del table  # the frame's columns own (or share) what they need
        return Extraction(time.perf_counter() - started, frame)

    return extract


def _load_adbc_stream(url: URL) -> Runner:
    from adbc_driver_postgresql import dbapi

    uri = adbc_uri(url)

    def extract() -> Extraction:
        rows = nbytes = 0
        started = time.perf_counter()
        with dbapi.connect(uri) as connection, connection.cursor() as cursor:
            cursor.execute(QUERY)
            for batch in cursor.fetch_record_batch():
                rows += batch.num_rows
                nbytes += batch.nbytes
        return Extraction(time.perf_counter() - started, nbytes=nbytes, rows=rows)

    return extract


def _load_connectorx(url: URL) -> Runner:
    import connectorx

    source = connectorx_url(url)

    def extract() -> Extraction:
        started = time.perf_counter()
        frame = connectorx.read_sql(source, QUERY, return_type="pandas")
        return Extraction(time.perf_counter() - started, frame)

    return extract


def _load_pandas_read_sql(url: URL) -> Runner:
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(url.set(drivername="postgresql+psycopg2"))  # lazy: no connection

    def extract() -> Extraction:
        try:
            started = time.perf_counter()
            frame = pd.read_sql(QUERY, engine)
            seconds = time.perf_counter() - started
        finally:
            engine.dispose()
        return Extraction(seconds, frame)

    return extract


def _load_sqlalchemy_rows(url: URL) -> Runner:
    import pandas as pd
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def extract() -> Extraction:
        engine = create_async_engine(url.set(drivername="postgresql+asyncpg"))
        try:
            started = time.perf_counter()
            async with engine.connect() as connection:
                result = await connection.execute(text(QUERY))
                columns = list(result.keys())
                rows = result.all()
            frame = pd.DataFrame(rows, columns=columns)
            seconds = time.perf_counter() - started
        finally:
            await engine.dispose()
        return Extraction(seconds, frame)

    return lambda: asyncio.run(extract())


def _load_raw_copy(url: URL) -> Runner:
    import asyncpg

    from gallery_analytics.db.admin import driver_dsn

    dsn = driver_dsn(url)

    async def extract() -> Extraction:
        chunks: list[bytes] = []

        async def sink(chunk: bytes) -> None:
            chunks.append(chunk)

        started = time.perf_counter()
        connection = await asyncpg.connect(dsn)
        try:
            await connection.copy_from_query(QUERY, format="binary", output=sink)
        finally:
            await connection.close()
        seconds = time.perf_counter() - started
        return Extraction(seconds, nbytes=sum(len(chunk) for chunk in chunks))

    return lambda: asyncio.run(extract())


LOADERS: dict[str, Callable[[URL], Runner]] = {
    "gallery_analytics": _load_gallery_analytics,
    "gallery_analytics_partitioned": _load_gallery_analytics_partitioned,
    "adbc_fetch_df": _load_adbc_fetch_df,
    "adbc_project_dtypes": _load_adbc_project_dtypes,
    "adbc_stream": _load_adbc_stream,
    "connectorx": _load_connectorx,
    "pandas_read_sql": _load_pandas_read_sql,
    "sqlalchemy_rows": _load_sqlalchemy_rows,
    "raw_copy": _load_raw_copy,
}


def run_worker(name: str) -> int:
    """Child process: import, record baseline RSS, extract once, print one JSON line."""
    report: dict[str, Any] = {"name": name}
    try:
        # Every contender ends in pandas (and pandas 3 strings in pyarrow): import them
        # up front so the baselines are comparable and the deltas are the extraction's.
        import numpy  # noqa: F401
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401

        url = make_url(os.environ[URL_ENV])
        runner = LOADERS[name](url)
        report["baseline_rss_kib"] = current_rss_kib()
        extraction = runner()
        report["peak_rss_kib"] = peak_rss_kib()
        report["seconds"] = extraction.seconds
        report["status"] = "ok"
        # Everything below is outside the timing and after the peak was taken.
        frame = extraction.frame
        if frame is not None:
            report["rows"] = len(frame)
            report["columns"] = [str(column) for column in frame.columns]
            report["dtypes"] = {str(column): str(dtype) for column, dtype in frame.dtypes.items()}
            report["nulls"] = {
                str(column): int(count) for column, count in frame.isna().sum().items()
            }
        if extraction.nbytes is not None:
            report["bytes"] = extraction.nbytes
        if extraction.rows is not None:
            report["rows"] = extraction.rows
    except Unavailable as exc:
        report.update(status="unavailable", reason=str(exc))
    except Exception as exc:
        traceback.print_exc()
        report.update(status="error", reason=f"{type(exc).__name__}: {exc}".splitlines()[0])
    print(json.dumps(report), flush=True)
    return 0 if report["status"] != "error" else 1


# -- orchestrator side: dataset, children, table ---------------------------------------------


async def prepare_dataset(rows: int, rebuild: bool, *, table: str = TABLE) -> URL:
    """Ensure the scratch database and ``table`` of ``rows`` rows; return the database URL."""
    from gallery_analytics.config import Settings
    from gallery_analytics.db.admin import ensure_database
    from gallery_analytics.db.connect import embedded_server_url
    from gallery_analytics.db.database import Database

    settings = Settings.from_env()
    server = settings.database_url or await embedded_server_url(settings)
    await ensure_database(server, DATABASE_NAME)
    url = server.set(database=DATABASE_NAME)
    async with (
        Database(url, settings=settings) as db,
        db.driver_connection(write=True) as connection,
    ):
        await connection.execute("SET statement_timeout = 0")  # a 1M-row build can be slow
        try:
            await _ensure_table(connection, rows, rebuild, table)
            # Untimed warm-up scan so the first contender does not pay for a cold cache.
            await connection.fetchval(f"SELECT count(*) FROM {table}")
        finally:
            await connection.execute("RESET statement_timeout")
    return url


async def _ensure_table(connection: Any, rows: int, rebuild: bool, table: str) -> None:
    expected = [name for name, _ in COLUMNS]
    present = await connection.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) "
        "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        f"public.{table}",
    )
    if not rebuild and [record["attname"] for record in present] == expected:
        count = await connection.fetchval(f"SELECT count(*) FROM {table}")
        if count == rows:
            print(f"reusing {DATABASE_NAME}.{table} ({count:,} rows)")
            return
        print(f"{table} has {count:,} rows, want {rows:,}: rebuilding")
    started = time.perf_counter()
    definition = ", ".join(f"{name} {sql_type}" for name, sql_type in COLUMNS)
    async with connection.transaction():
        await connection.execute(f"DROP TABLE IF EXISTS {table}")
        await connection.execute(f"CREATE TABLE {table} ({definition})")
        await connection.execute(
            f"INSERT INTO {table} SELECT {_VALUES} FROM generate_series(1, $1::bigint) AS g",
            rows,
            timeout=BUILD_TIMEOUT_SECONDS,
        )
    # Set hint bits and statistics now, so no contender's scan pays for them.
    await connection.execute(f"VACUUM (FREEZE, ANALYZE) {table}", timeout=BUILD_TIMEOUT_SECONDS)
    size = await connection.fetchval("SELECT pg_size_pretty(pg_table_size($1::regclass))", table)
    elapsed = time.perf_counter() - started
    print(f"built {DATABASE_NAME}.{table}: {rows:,} rows, {size}, {elapsed:.1f} s")


@dataclass(slots=True)
class Results:
    contender: Contender
    runs: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None  # "unavailable: ..." or "error: ..."

    @property
    def ok(self) -> bool:
        return bool(self.runs) and self.problem is None

    def median(self, key: str) -> float:
        return float(statistics.median(run[key] for run in self.runs))

    def minimum(self, key: str) -> float:
        return float(min(run[key] for run in self.runs))

    def peak_delta_mib(self) -> float:
        return float(
            statistics.median(
                (run["peak_rss_kib"] - run["baseline_rss_kib"]) / 1024 for run in self.runs
            )
        )

    def peak_mib(self) -> float:
        return self.median("peak_rss_kib") / 1024


def run_child(
    name: str,
    url: URL,
    *,
    script: Path | None = None,
    env_extra: dict[str, str] | None = None,
    timeout_seconds: float = WORKER_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Run ``script --worker name`` (default this file) in a fresh process; its JSON report."""
    env = dict(os.environ)
    env[URL_ENV] = url.render_as_string(hide_password=False)  # env, not argv: keeps it off ps
    env.update(env_extra or {})
    command = [sys.executable, str((script or Path(__file__)).resolve()), "--worker", name]
    try:
        completed = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout_seconds
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {timeout_seconds:.0f} s"}
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "error", "reason": f"exit {completed.returncode}: {tail}"}
    report: dict[str, Any] = json.loads(lines[-1])
    if report.get("status") == "error" and completed.stderr:
        sys.stderr.write(f"--- {name} worker stderr ---\n{completed.stderr}")
    return report


def run_all(selected: Sequence[Contender], url: URL, repeat: int) -> dict[str, Results]:
    results = {contender.name: Results(contender) for contender in selected}
    # Interleave repeats across contenders so a noisy stretch hits everyone alike.
    for attempt in range(1, repeat + 1):
        for contender in selected:
            result = results[contender.name]
            if result.problem is not None:
                continue
            report = run_child(contender.name, url)
            status = report.get("status")
            if status == "ok":
                result.runs.append(report)
                peak = report["peak_rss_kib"] / 1024
                print(
                    f"  [{attempt}/{repeat}] {contender.name:<29} {report['seconds']:7.2f} s"
                    f"  peak {peak:7.0f} MB",
                    flush=True,
                )
            else:
                result.problem = f"{status}: {report.get('reason', '?')}"
                print(f"  [{attempt}/{repeat}] {contender.name:<29} {result.problem}", flush=True)
    return results


def verify(results: dict[str, Results], rows: int) -> list[str]:
    """Same rows, columns and NULL counts for every DataFrame contender (first run each),
    and the table's row count from every contender that counts rows without a frame."""
    problems: list[str] = []
    frames = {
        name: result.runs[0]
        for name, result in results.items()
        if result.ok and result.contender.makes_frame
    }
    for name, result in results.items():
        if result.ok and "rows" in result.runs[0] and result.runs[0]["rows"] != rows:
            problems.append(f"{name}: {result.runs[0]['rows']:,} rows, table has {rows:,}")
    if len(frames) >= 2:
        reference_name, reference = next(iter(frames.items()))
        for name, run in list(frames.items())[1:]:
            if run["rows"] != reference["rows"]:
                problems.append(
                    f"{name}: {run['rows']:,} rows vs {reference_name}'s {reference['rows']:,}"
                )
            if run["columns"] != reference["columns"]:
                problems.append(
                    f"{name}: columns {run['columns']} vs {reference_name}'s {reference['columns']}"
                )
            elif run["nulls"] != reference["nulls"]:
                problems.append(
                    f"{name}: NULL counts {run['nulls']} vs {reference_name}'s {reference['nulls']}"
                )
    return problems


# Contenders whose frames must carry exactly the project's dtypes, or the comparison is unfair.
SAME_DTYPES_AS_PROJECT = ("adbc_project_dtypes", "gallery_analytics_partitioned")


def dtype_mismatches(results: dict[str, Results]) -> list[str]:
    """Columns whose dtype differs from gallery_analytics' in the contenders that promise
    the project's dtypes (a lead for the reader, not a failure of the run)."""
    project = results.get("gallery_analytics")
    if project is None or not project.ok:
        return []
    expected: dict[str, str] = project.runs[0]["dtypes"]
    mismatches: list[str] = []
    for name in SAME_DTYPES_AS_PROJECT:
        result = results.get(name)
        if result is None or not result.ok:
            continue
        got: dict[str, str] = result.runs[0]["dtypes"]
        mismatches.extend(
            f"{name}.{column}: {got.get(column, 'missing')} (project: {dtype})"
            for column, dtype in expected.items()
            if got.get(column) != dtype
        )
    return mismatches


def print_dtype_check(results: dict[str, Results]) -> None:
    checked = [name for name in SAME_DTYPES_AS_PROJECT if name in results and results[name].ok]
    if not checked:
        return
    if not results.get("gallery_analytics", Results(BY_NAME["gallery_analytics"])).ok:
        print(f"dtypes of {', '.join(checked)}: not checked (gallery_analytics did not run)")
        return
    mismatches = dtype_mismatches(results)
    if mismatches:
        print("dtypes differ from gallery_analytics':\n  " + "\n  ".join(mismatches))
    else:
        print(f"dtypes of {', '.join(checked)}: the same as gallery_analytics'")


def print_table(results: dict[str, Results]) -> None:
    header = (
        f"{'contender':<40} {'median s':>9} {'min s':>8} {'peak-base MB':>13} "
        f"{'peak MB':>8} {'base MB':>8} {'runs':>5}"
    )
    print(header)
    print("-" * len(header))
    for result in results.values():
        label = result.contender.label
        if not result.ok:
            print(f"{label:<40} {result.problem}")
            continue
        print(
            f"{label:<40} {result.median('seconds'):9.2f} {result.minimum('seconds'):8.2f} "
            f"{result.peak_delta_mib():13.0f} {result.peak_mib():8.0f} "
            f"{result.median('baseline_rss_kib') / 1024:8.0f} {len(result.runs):>5}"
        )


def _verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


LABEL_WIDTH = 46


def _ratio_line(label: str, ratio: float | None, note: str, verdict: str = "") -> None:
    figure = "   n/a" if ratio is None else f"{ratio:6.2f}x"
    print(f"{label:<{LABEL_WIDTH}} {figure}  {note}" + (f"  {verdict}" if verdict else ""))


def _speedup_line(label: str, peer: Results | None, project: Results, missing: str) -> None:
    """Peer time / project time against issue 15's >= 1.15x."""
    if peer is None:
        _ratio_line(label, None, missing)
        return
    ratio = peer.median("seconds") / project.median("seconds")
    target = f"(target >= {TARGET_ADBC_SPEEDUP:.2f}x)"
    _ratio_line(label, ratio, target, _verdict(ratio >= TARGET_ADBC_SPEEDUP))


def print_ratios(results: dict[str, Results]) -> None:
    def get(name: str) -> Results | None:
        result = results.get(name)
        return result if result is not None and result.ok else None

    project = get("gallery_analytics")
    partitioned = get("gallery_analytics_partitioned")
    adbc = get("adbc_fetch_df")
    adbc_dtypes = get("adbc_project_dtypes")
    connectorx = get("connectorx")
    read_sql = get("pandas_read_sql")
    rows_frame = get("sqlalchemy_rows")
    floor = get("raw_copy")
    print()
    if project is None:
        reason = results["gallery_analytics"].problem if "gallery_analytics" in results else None
        print(f"ratios: n/a, gallery_analytics did not run ({reason or 'not selected'})")
        return
    seconds = project.median("seconds")

    print("issue 15's targets:")
    _speedup_line("ADBC fetch_df time / project time", adbc, project, "ADBC fetch_df did not run")
    _speedup_line(
        "ADBC + project dtypes time / project time",
        adbc_dtypes,
        project,
        "adbc_project_dtypes did not run",
    )
    label = "project time / binary COPY floor"
    if floor is None:
        _ratio_line(label, None, "raw_copy did not run")
    else:
        ratio = seconds / floor.median("seconds")
        moved = floor.runs[0]["bytes"] / 2**20
        target = f"(target <= {TARGET_VS_FLOOR:.1f}x; COPY moved {moved:,.0f} MB)"
        _ratio_line(label, ratio, target, _verdict(ratio <= TARGET_VS_FLOOR))
    label = "project peak RSS / ADBC fetch_df peak RSS"
    if adbc is None:
        _ratio_line(label, None, "ADBC fetch_df did not run")
    else:
        ratio = project.peak_mib() / adbc.peak_mib()
        target = f"(target <= {TARGET_RSS_VS_ADBC:.1f}x on absolute peaks: the target's reading)"
        _ratio_line(label, ratio, target, _verdict(ratio <= TARGET_RSS_VS_ADBC))
        ratio = project.peak_delta_mib() / max(adbc.peak_delta_mib(), 1.0)
        _ratio_line(
            "  same, peak - baseline",
            ratio,
            f"(info; {project.peak_delta_mib():.0f} vs {adbc.peak_delta_mib():.0f} MB)",
            _verdict(ratio <= TARGET_RSS_VS_ADBC),
        )
    if adbc_dtypes is not None:
        ratio = project.peak_mib() / adbc_dtypes.peak_mib()
        _ratio_line("  same vs ADBC + project dtypes", ratio, "(info, absolute peaks)")

    print("earlier targets and context:")
    label = "project time / ConnectorX time"
    target = f"(target <= {TARGET_VS_CONNECTORX:.1f}x)"
    if connectorx is None:
        _ratio_line(label, None, "ConnectorX did not run")
    else:
        ratio = seconds / connectorx.median("seconds")
        _ratio_line(label, ratio, target, _verdict(ratio <= TARGET_VS_CONNECTORX))

    label = "pandas.read_sql time / project time"
    target = f"(target >= {TARGET_READ_SQL_SPEEDUP:.1f}x)"
    if read_sql is None:
        _ratio_line(label, None, "pandas.read_sql did not run")
    else:
        ratio = read_sql.median("seconds") / seconds
        _ratio_line(label, ratio, target, _verdict(ratio >= TARGET_READ_SQL_SPEEDUP))

    label = "project peak RSS / ConnectorX peak RSS"
    target = f"(target <= {TARGET_RSS_VS_CONNECTORX:.1f}x on peak - baseline)"
    if connectorx is None:
        _ratio_line(label, None, "ConnectorX did not run")
    else:
        ratio = project.peak_delta_mib() / max(connectorx.peak_delta_mib(), 1.0)
        _ratio_line(label, ratio, target, _verdict(ratio <= TARGET_RSS_VS_CONNECTORX))
        _ratio_line("  same, absolute peaks", project.peak_mib() / connectorx.peak_mib(), "(info)")

    if rows_frame is not None:
        ratio = rows_frame.median("seconds") / seconds
        _ratio_line("SQLAlchemy rows time / project time", ratio, "(info)")
    if partitioned is not None:
        ratio = partitioned.median("seconds") / seconds
        note = f"(info; {PARTITIONS} connections on {os.cpu_count()} CPUs, below 1 is faster)"
        _ratio_line("partitioned time / single-stream time", ratio, note)


def print_dtypes(results: dict[str, Results]) -> None:
    for result in results.values():
        if not (result.ok and result.contender.makes_frame):
            continue
        print(f"\n{result.contender.label} dtypes:")
        for column, dtype in result.runs[0]["dtypes"].items():
            print(f"  {column:<14} {dtype}")


def _versions() -> str:
    names = [
        "pandas",
        "pyarrow",
        "adbc-driver-postgresql",
        "connectorx",
        "sqlalchemy",
        "asyncpg",
        "psycopg2-binary",
    ]
    found: list[str] = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} missing")
    return ", ".join(found)


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
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender (median)")
    parser.add_argument("--only", metavar="NAME[,NAME]", help=f"subset of {', '.join(BY_NAME)}")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the table anyway")
    parser.add_argument("--show-dtypes", action="store_true", help="print each frame's dtypes")
    parser.add_argument("--worker", choices=list(BY_NAME), help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.worker is not None:
        return run_worker(arguments.worker)
    if arguments.rows < 1 or arguments.repeat < 1:
        parser.error("--rows and --repeat must be at least 1")
    selected = _parse_only(arguments.only)

    url = asyncio.run(prepare_dataset(arguments.rows, arguments.rebuild))
    print(f"{QUERY!r}: {arguments.rows:,} rows x {len(COLUMNS)} columns")
    print(f"{_versions()}; {os.cpu_count()} CPUs; median of {arguments.repeat} fresh process(es)")
    results = run_all(selected, url, arguments.repeat)
    print()
    print_table(results)
    problems = verify(results, arguments.rows)
    checked = [
        name for name, result in results.items() if result.ok and result.contender.makes_frame
    ]
    if problems:
        print("\nverification FAILED:\n  " + "\n  ".join(problems))
    elif checked:
        print(f"\nverified: same rows, columns and NULL counts from {', '.join(checked)}")
    print_dtype_check(results)
    if arguments.show_dtypes:
        print_dtypes(results)
    print_ratios(results)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
