"""The HTTP API under load, side by side with its floor, on the medium demo data.

Serves ``GET /artworks/{id}`` and ``GET /users/{id}/dashboard?on=DATE`` (a real artwork;
a real user with artists, artworks and an exhibition open on DATE) from two contenders,
each a real server process on a free loopback port, one at a time, with 1 and 2
workers:

- the project's API, ``gallery-analytics serve --workers N`` (FastAPI -> service ->
  repository -> SQLAlchemy), once with public reads (``GALLERY_API_PUBLIC_READS=1``)
  and once with a read token (``gallery-analytics api-token create``) on every request;
- the floor, ``benchmarks/api_floor.py``: bare Starlette on a raw asyncpg pool of the
  same size (the project's default pool size per worker) and the same reader role,
  running the same queries (the dashboard's four in parallel on four connections);
  with the token it checks it as the API does (one SELECT, constant-time compare).

Both run on uvicorn with the same loop and HTTP parser (whatever uvicorn picks in this
environment), no access log, no server header. Debian's ``wrk`` (installed when missing
and allowed) drives 64 connections for 10 s per row after a short warm-up, and reports
requests/s, p50, p99, socket errors and non-2xx responses (wrk counts status >= 400; the
routes send no 3xx). Before loading a contender the script fetches both routes once and
checks the answer names the same rows as the other contender's, so the floor does not
win by doing less. Server CPU per request (the server's processes, from psutil) is
printed too: it does not depend on how the two cores were shared.

Targets (issue 13): API throughput >= 0.6x the floor's, API p99 <= 3x the floor's, zero
errors. Printed as PASS or MISS; nothing is asserted.

    .venv/bin/python benchmarks/api.py [--seconds 10] [--connections 64] [--threads 2]
        [--warmup 2] [--workers 1,2] [--size medium]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from common import scratch_database, server_url
from sqlalchemy import text

from gallery_analytics.config import PoolSettings, Settings
from gallery_analytics.db.database import Database

HERE = Path(__file__).resolve().parent
TARGET_THROUGHPUT = 0.6  # API req/s >= this x the floor's
TARGET_P99 = 3.0  # API p99 <= this x the floor's
STARTUP_SECONDS = 90.0
STOP_SECONDS = 20.0

# wrk's summary as one machine-readable line (its own text rounds latencies).
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "wrk-result requests=%.0f duration_us=%.0f bytes=%.0f connect=%.0f read=%.0f "
    .. "write=%.0f timeout=%.0f status=%.0f p50_us=%.0f p99_us=%.0f max_us=%.0f\\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.timeout, e.status, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


# -- the load generator -----------------------------------------------------------------------


def ensure_wrk() -> str:
    """wrk's path, installed from Debian when missing and this process may (root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing Debian's wrk (the load generator)...")
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, env=environment, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=environment, check=True)
            subprocess.run(install, env=environment, check=True)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit(
        "error: this benchmark needs the load generator wrk (Debian: apt-get install wrk); "
        "it is missing and cannot be installed here (needs root and apt-get)"
    )


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    requests: int
    seconds: float
    bytes: int
    socket_errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float
    server_cpu_s: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_s / self.requests if self.requests else float("nan")


@dataclass(frozen=True)
class LoadShape:
    seconds: int
    connections: int
    threads: int
    warmup: int
    timeout: int


def run_wrk(
    wrk: str,
    script: Path,
    url: str,
    shape: LoadShape,
    *,
    seconds: int,
    headers: Mapping[str, str],
    server: subprocess.Popen[bytes] | None = None,
) -> Load:
    """One wrk run against ``url``; the server's CPU time is taken around it."""
    command = [
        wrk,
        f"-t{shape.threads}",
        f"-c{shape.connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        f"{shape.timeout}s",
        "-s",
        str(script),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    cpu_before = server_cpu_seconds(server) if server else 0.0
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, check=False, timeout=seconds + 120
    )
    cpu_after = server_cpu_seconds(server) if server else 0.0
    match = re.search(r"^wrk-result (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    figures = {k: float(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    return Load(
        requests=int(figures["requests"]),
        seconds=figures["duration_us"] / 1e6,
        bytes=int(figures["bytes"]),
        socket_errors=int(sum(figures[k] for k in ("connect", "read", "write", "timeout"))),
        non_2xx=int(figures["status"]),
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        server_cpu_s=cpu_after - cpu_before,
    )


# -- servers as real processes ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """User + system CPU of the server and its workers so far."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(process.pid)
        for member in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = member.cpu_times()
                total += times.user + times.system
    return total


def http_get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


@contextlib.contextmanager
def served(
    command: Sequence[str], environment: Mapping[str, str], health: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running until the block ends, once ``health`` (a path) answers 200.

    Started in a session of its own; stopped with SIGTERM, then SIGKILL for its whole
    process group after STOP_SECONDS, so no worker outlives the benchmark."""
    with open(log, "wb") as output:
        process = subprocess.Popen(
            list(command),
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(environment),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        url = health
        while True:
            with contextlib.suppress(OSError):
                if http_get(url)[0] == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            print(f"  (server {process.pid} ignored SIGTERM for {STOP_SECONDS:.0f} s: killed)")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # workers left behind, if any
        process.wait()


def gallery_command() -> list[str]:
    """``gallery-analytics`` as installed next to this Python (the venv's script)."""
    script = Path(sys.executable).with_name("gallery-analytics")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gallery_analytics.cli"]


def api_environment(db: Database, *, public_reads: bool) -> dict[str, str]:
    """A deployment's environment: none of this shell's GALLERY_* settings (so the pool
    is the default one, as the floor's), the writer, the SELECT-only reader and the
    schema owner (api-token writes as the owner)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    environment["GALLERY_DATABASE_URL"] = db.url.render_as_string(hide_password=False)
    environment["GALLERY_READ_DATABASE_URL"] = db.read_url.render_as_string(hide_password=False)
    environment["GALLERY_ADMIN_DATABASE_URL"] = db.admin_url.render_as_string(hide_password=False)
    environment["GALLERY_ENV_FILE"] = os.devnull
    environment["GALLERY_API_PUBLIC_READS"] = "1" if public_reads else "0"
    return environment


def api_token(db: Database, name: str, *args: str) -> str:
    done = subprocess.run(
        [*gallery_command(), "api-token", *args, name],
        capture_output=True,
        text=True,
        env=api_environment(db, public_reads=False),
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"gallery-analytics api-token {args[0]} failed:\n{done.stderr}")
    return done.stdout.strip()


# -- the contenders ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    name: str  # "API" or "floor"
    modes: tuple[str, ...]  # "public" and/or "token"

    def command(self, port: int, workers: int) -> list[str]:
        where = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        if self.name == "API":
            return [*gallery_command(), "serve", *where, "--no-access-log"]
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "api_floor:create_app",
            "--factory",
            "--app-dir",
            str(HERE),
            *where,
            "--no-access-log",
            # as `gallery-analytics serve` runs uvicorn:
            "--no-server-header",
            "--no-proxy-headers",
            "--timeout-graceful-shutdown",
            "10",
        ]

    def environment(self, db: Database, mode: str) -> dict[str, str]:
        if self.name == "API":
            return api_environment(db, public_reads=mode == "public")
        environment = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
        dsn = db.read_url.set(drivername="postgresql")
        environment["FLOOR_DATABASE_DSN"] = dsn.render_as_string(hide_password=False)
        environment["FLOOR_POOL_SIZE"] = str(PoolSettings().size)
        return environment

    def health(self) -> str:
        return "/health/live" if self.name == "API" else "/health"


# The API's two modes need two servers (public reads is a setting); the floor takes
# both in one (it checks a token only when one is sent).
SERVERS = (
    (Contender("floor", ("public", "token")), None),
    (Contender("API", ("public",)), "public"),
    (Contender("API", ("token",)), "token"),
)


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str
    kind: str  # "artwork" or "dashboard"


def fingerprint(kind: str, body: bytes) -> tuple[Any, ...]:
    """The rows an answer names, in order: equal for the API and the floor."""
    data = json.loads(body)
    if kind == "artwork":
        return (data["id"], data["artist_id"], data["owner_id"], data["title"])
    return (
        data["user"]["id"],
        data["on"],
        tuple(a["id"] for a in data["artists"]),
        tuple(w["id"] for w in data["artworks"]),
        tuple(e["id"] for e in data["active_exhibitions"]),
    )


# -- the data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    artwork_id: str
    user_id: str
    on: dt.date
    artists: int
    artworks: int
    exhibitions: int


async def pick_sample(db: Database) -> Sample:
    """A real artwork, and a typical user: the median artwork count among users with
    artists, artworks and an exhibition open on the dataset's reference day (else
    among users with artists and artworks)."""
    async with db.read_session() as session:
        artwork_id = await session.scalar(
            text("SELECT id FROM artworks ORDER BY id OFFSET (SELECT count(*) / 2 FROM artworks)")
        )
        on = await session.scalar(text("SELECT reference_date FROM gallery_dataset")) or (
            dt.date.today()
        )
        rows = (
            await session.execute(
                text(
                    """
                    WITH counted AS (
                      SELECT u.id,
                        (SELECT count(*) FROM artists a WHERE a.owner_id = u.id) AS artists,
                        (SELECT count(*) FROM artworks w WHERE w.owner_id = u.id) AS artworks,
                        (SELECT count(*) FROM exhibitions e WHERE e.curator_id = u.id
                           AND e.starts_on <= :on AND e.ends_on >= :on) AS exhibitions
                      FROM users u)
                    SELECT id, artists, artworks, exhibitions FROM counted
                    WHERE artists > 0 AND artworks > 0
                    ORDER BY exhibitions > 0 DESC, artworks, id
                    """
                ),
                {"on": on},
            )
        ).all()
    if artwork_id is None or not rows:
        raise RuntimeError("the benchmark database has no artworks or no user with artworks")
    showing = [row for row in rows if row.exhibitions > 0] or rows
    user = showing[len(showing) // 2]
    return Sample(str(artwork_id), str(user.id), on, user.artists, user.artworks, user.exhibitions)


async def benchmark_database(size: str) -> tuple[Database, Sample]:
    """The seeded scratch database (its URLs; the pool is closed again) and the sample."""
    settings = Settings.from_env()
    db = await scratch_database(await server_url(settings), size, settings)
    try:
        return db, await pick_sample(db)
    finally:
        await db.dispose()


# -- the run ----------------------------------------------------------------------------------

Key = tuple[str, int, str, str]  # endpoint label, workers, mode, contender name


def measure_all(
    db: Database, sample: Sample, shape: LoadShape, worker_counts: Sequence[int]
) -> dict[Key, Load]:
    wrk = ensure_wrk()
    endpoints = (
        Endpoint("GET /artworks/{id}", f"/artworks/{sample.artwork_id}", "artwork"),
        Endpoint(
            "GET /users/{id}/dashboard",
            f"/users/{sample.user_id}/dashboard?on={sample.on.isoformat()}",
            "dashboard",
        ),
    )
    results: dict[Key, Load] = {}
    answers: dict[str, tuple[str, tuple[Any, ...]]] = {}
    token_name = f"bench-api-{os.getpid()}"
    token = api_token(db, token_name, "create", "--scope", "read")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        script = Path(scratch) / "summary.lua"
        script.write_text(WRK_SCRIPT)
        try:
            for workers in worker_counts:
                for contender, api_mode in SERVERS:
                    port = free_port()
                    base = f"http://127.0.0.1:{port}"
                    log = Path(scratch) / f"{contender.name}-{api_mode}-{workers}.log"
                    with served(
                        contender.command(port, workers),
                        contender.environment(db, api_mode or "public"),
                        base + contender.health(),
                        log,
                    ) as process:
                        for endpoint in endpoints:
                            for mode in contender.modes:
                                headers = (
                                    {"Authorization": f"Bearer {token}"} if mode == "token" else {}
                                )
                                url = base + endpoint.path
                                check_answer(answers, contender, mode, endpoint, url, headers)
                                if shape.warmup:
                                    run_wrk(
                                        wrk,
                                        script,
                                        url,
                                        shape,
                                        seconds=shape.warmup,
                                        headers=headers,
                                    )
                                load = run_wrk(
                                    wrk,
                                    script,
                                    url,
                                    shape,
                                    seconds=shape.seconds,
                                    headers=headers,
                                    server=process,
                                )
                                results[(endpoint.label, workers, mode, contender.name)] = load
                                print_load(endpoint.label, workers, contender.name, mode, load)
        finally:
            with contextlib.suppress(RuntimeError):
                api_token(db, token_name, "revoke")
    return results


def check_answer(
    answers: dict[str, tuple[str, tuple[Any, ...]]],
    contender: Contender,
    mode: str,
    endpoint: Endpoint,
    url: str,
    headers: Mapping[str, str],
) -> None:
    """The contender answers 200 with the same rows as the first contender did."""
    status, body = http_get(url, headers)
    who = f"{contender.name} ({mode})"
    if status != 200:
        raise RuntimeError(f"{who} answered {endpoint.label} with {status}: {body[:500]!r}")
    found = fingerprint(endpoint.kind, body)
    first = answers.setdefault(endpoint.label, (who, found))
    if first[1] != found:
        raise RuntimeError(f"{who} and {first[0]} name different rows for {endpoint.label}")
    print(f"  {who:15} {endpoint.label}: 200, {len(body):,} bytes, same rows as {first[0]}")


def print_load(label: str, workers: int, contender: str, mode: str, load: Load) -> None:
    print(
        f"  workers={workers} {label:26} {contender + ' (' + mode + ')':15} "
        f"{load.rate:8.1f} req/s  p50 {load.p50_ms:7.1f} ms  p99 {load.p99_ms:7.1f} ms  "
        f"errors {load.errors} (socket {load.socket_errors}, non-2xx {load.non_2xx})  "
        f"server CPU {load.cpu_ms_per_request:.2f} ms/req"
    )


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def print_summary(results: Mapping[Key, Load], worker_counts: Sequence[int]) -> int:
    """The side-by-side table with ratios and verdicts; the number of MISSes."""
    print()
    print(
        f"{'endpoint':26} {'wk':>2} {'auth':6} | {'API r/s':>8} {'floor r/s':>9} "
        f"{'ratio':>6} {'>=0.6':5} | {'API p99':>8} {'floor p99':>9} {'ratio':>6} {'<=3':4} "
        f"| {'errors':>6} {'0':4} | {'CPU ms/req API/floor':>20}"
    )
    misses = 0
    labels = dict.fromkeys(key[0] for key in results)
    for label in labels:
        for workers in worker_counts:
            for mode in ("public", "token"):
                api = results.get((label, workers, mode, "API"))
                floor = results.get((label, workers, mode, "floor"))
                if api is None or floor is None:
                    continue
                throughput = api.rate / floor.rate if floor.rate else float("nan")
                p99 = api.p99_ms / floor.p99_ms if floor.p99_ms else float("inf")
                checks = (
                    throughput >= TARGET_THROUGHPUT,
                    p99 <= TARGET_P99,
                    api.errors == 0 and floor.errors == 0,
                )
                misses += checks.count(False)
                print(
                    f"{label:26} {workers:>2} {mode:6} | {api.rate:8.1f} {floor.rate:9.1f} "
                    f"{throughput:5.2f}x {verdict(checks[0]):5} | "
                    f"{api.p99_ms:6.1f}ms {floor.p99_ms:7.1f}ms {p99:5.2f}x {verdict(checks[1]):4} "
                    f"| {api.errors + floor.errors:6} {verdict(checks[2]):4} | "
                    f"{api.cpu_ms_per_request:9.2f} / {floor.cpu_ms_per_request:.2f}"
                )
    return misses


def print_machine(shape: LoadShape) -> None:
    cores = len(os.sched_getaffinity(0))
    print(
        f"machine: {cores} core(s) usable, shared by wrk ({shape.threads} threads), the "
        "server's worker(s) and PostgreSQL: absolute figures are low and workers=2 competes "
        "with the load generator for the same cores; compare the ratios (both contenders "
        "run under the same conditions) and the server CPU per request."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per row")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds first")
    parser.add_argument("--timeout", type=int, default=30, help="wrk's per-request timeout (s)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--size", default="medium", choices=["small", "medium", "large"])
    arguments = parser.parse_args()
    shape = LoadShape(
        arguments.seconds,
        arguments.connections,
        arguments.threads,
        arguments.warmup,
        arguments.timeout,
    )
    worker_counts = [int(n) for n in arguments.workers.split(",") if n.strip()]
    ensure_wrk()

    db, sample = asyncio.run(benchmark_database(arguments.size))
    print(
        f"{arguments.size} demo data; artwork {sample.artwork_id}; user {sample.user_id} "
        f"({sample.artists} artists, {sample.artworks} artworks, {sample.exhibitions} "
        f"exhibition(s) open on {sample.on})"
    )
    print(
        f"load: wrk -t{shape.threads} -c{shape.connections} -d{shape.seconds}s --latency "
        f"after {shape.warmup} s of warm-up; pool {PoolSettings().size} connections per "
        "worker for both contenders; reader role for both"
    )
    print_machine(shape)
    results = measure_all(db, sample, shape, worker_counts)
    misses = print_summary(results, worker_counts)
    print(
        f"\ntargets: API throughput >= {TARGET_THROUGHPUT}x the floor's, p99 <= {TARGET_P99}x, "
        f"zero errors: {'all met' if not misses else f'{misses} missed'}"
    )
    print_machine(shape)
    return 0


if __name__ == "__main__":
    sys.exit(main())
