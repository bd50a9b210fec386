"""A real ``gallery-analytics serve`` for tests: the console script in a process group
of its own, on a free loopback port, configured only by its environment (the test
database's three role URLs, with a password in each, and ``GALLERY_ENV_FILE`` empty),
its stdout and stderr kept in files so a test can read what it logged.

Also the database side of the served tests: what the API's backends are doing
(``pg_stat_activity``, as the superuser), and a table lock held by the schema owner so
the API's queries wait on it deterministically.

Why the console script and a working directory of the test's own: it is what a
deployment runs, and ``python -m`` would put the current directory first on
``sys.path``, so a ``PYTHONPATH`` (used to check the tests against a modified copy of
the package) would be ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import psutil
from sqlalchemy.engine import URL

from gallery_analytics.db.database import APPLICATION_NAME, Database
from tests.browser.harness import free_port

T = TypeVar("T")

COMMAND = str(Path(sys.executable).with_name("gallery-analytics"))
# How long a server may take to answer /health/ready (a busy machine starts slowly).
STARTUP_SECONDS = 120.0
STOP_SECONDS = 30.0


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a loop of its own, in a thread of its own (the
    test's thread may hold pytest-asyncio's session loop, which must stay untouched)."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def dsn(url: URL) -> str:
    """``url`` for asyncpg (no SQLAlchemy driver name)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def fetch(url: URL, query: str, *args: Any) -> list[asyncpg.Record]:
    async def go() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(dsn(url))
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    return run_async(go)


def environment(
    db: Database, password: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A deployment's environment: none of this process's ``GALLERY_*`` settings; the
    writer, SELECT-only reader and schema owner of ``db``, each URL with ``password``
    (the test server trusts its socket, so any password connects; what matters is that
    the server holds one it must never show)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GALLERY_")}
    env["GALLERY_DATABASE_URL"] = _with(db.url, password)
    env["GALLERY_READ_DATABASE_URL"] = _with(db.read_url, password)
    env["GALLERY_ADMIN_DATABASE_URL"] = _with(db.admin_url, password)
    env["GALLERY_ENV_FILE"] = os.devnull
    env.update(extra or {})
    return env


def _with(url: URL, password: str) -> str:
    return url.set(password=password).render_as_string(hide_password=False)


def command(
    env: Mapping[str, str], cwd: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``gallery-analytics ARGS`` with ``env`` (it must succeed)."""
    done = subprocess.run(
        [COMMAND, *args],
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"gallery-analytics {args[:2]} failed:\n{done.stderr}"
    return done


def create_token(env: Mapping[str, str], cwd: Path, name: str, *scopes: str) -> str:
    """``gallery-analytics api-token create NAME --scope ...``: the token, alone on stdout."""
    options = [item for scope in scopes for item in ("--scope", scope)]
    token = command(env, cwd, "api-token", "create", name, *options).stdout.strip()
    assert re.fullmatch(r"gat_\S+", token), token
    return token


@dataclass
class Server:
    """A running ``gallery-analytics serve``."""

    port: int
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str | None = None, **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        options.setdefault("timeout", 60)
        return httpx.Client(base_url=self.url, headers=headers, **options)

    def tree(self) -> list[psutil.Process]:
        """The serve process and every process under it (workers, their helpers)."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def workers(self) -> list[psutil.Process]:
        """uvicorn's worker processes (multiprocessing spawns them; its resource
        tracker, also spawned, is no worker)."""
        found = []
        for process in self.tree()[1:]:
            with contextlib.suppress(psutil.Error):
                line = " ".join(process.cmdline())
                if "spawn_main" in line and "resource_tracker" not in line:
                    found.append(process)
        return found

    def logs(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")


@contextlib.contextmanager
def serve(
    env: Mapping[str, str], workdir: Path, *, workers: int = 1, options: Sequence[str] = ()
) -> Iterator[Server]:
    """``gallery-analytics serve --workers N`` on a free loopback port until the block
    ends, ready when the block starts: ``/health/ready`` answered 200 and every worker
    has started its application (one ready worker answers while another still starts).
    At the end: SIGTERM, and SIGKILL to its whole process group if anything is left
    after STOP_SECONDS."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    stdout, stderr = workdir / "serve.stdout", workdir / "serve.stderr"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [
                COMMAND,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                *options,
            ],
            stdout=out,
            stderr=err,
            env=dict(env),
            cwd=workdir,
            start_new_session=True,  # its own group: nothing it starts can outlive the test
        )
    server = Server(port, process, stdout, stderr)
    try:
        _wait_ready(server, workers)
        yield server
    finally:
        stop(server)


def _wait_ready(server: Server, workers: int) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        with contextlib.suppress(httpx.HTTPError):
            started = server.logs().count("Application startup complete")
            ready = httpx.get(f"{server.url}/health/ready", timeout=5).status_code == 200
            if ready and started >= workers:
                return
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the API did not start:\n{server.logs()[-3000:]}")
        time.sleep(0.2)


def stop(server: Server) -> None:
    """SIGTERM, then SIGKILL for the group if it has not ended in time. Idempotent."""
    left = server.tree()
    if server.process.poll() is None:
        server.process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=STOP_SECONDS)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.process.pid, signal.SIGKILL)  # the group this harness made
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=STOP_SECONDS)
    for process in left:  # anything that left the group
        with contextlib.suppress(psutil.Error):
            process.kill()


# -- the database side ---------------------------------------------------------------------


def api_backends(server_url: URL, db: Database) -> list[asyncpg.Record]:
    """The API's backends on ``db``'s database that are not idle: running, waiting on a
    lock, or idle in a transaction (seen as the superuser, who sees every query)."""
    return fetch(
        server_url,
        "SELECT pid, state, wait_event_type, left(query, 120) AS query FROM pg_stat_activity "
        "WHERE datname = $1 AND application_name = $2 AND state IS DISTINCT FROM 'idle' "
        "AND pid <> pg_backend_pid()",
        db.url.database,
        APPLICATION_NAME,
    )


def lock_waiters(server_url: URL, db: Database) -> int:
    """How many of the API's backends on ``db`` wait on a lock now."""
    return sum(1 for row in api_backends(server_url, db) if row["wait_event_type"] == "Lock")


def wait_for(condition: Callable[[], bool], seconds: float, what: Callable[[], str]) -> None:
    """Poll ``condition`` until it holds; fail saying ``what()`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what()
        time.sleep(0.1)


class TableLock:
    """``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`` in a transaction of the schema owner,
    held in a thread of its own until released: every query reading the table waits."""

    def __init__(self, owner_url: URL, table: str) -> None:
        self._url, self._table = owner_url, table
        self._locked, self._release = threading.Event(), threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._hold())
        except BaseException as exc:  # reported to the test in __enter__
            self._failure = exc
            self._locked.set()

    async def _hold(self) -> None:
        connection = await asyncpg.connect(dsn(self._url))
        try:
            async with connection.transaction():
                await connection.execute(f"LOCK TABLE {self._table} IN ACCESS EXCLUSIVE MODE")
                self._locked.set()
                await asyncio.to_thread(self._release.wait)
        finally:
            await connection.close()

    def __enter__(self) -> TableLock:
        self._thread.start()
        assert self._locked.wait(60), "could not lock the table"
        if self._failure is not None:
            raise self._failure
        return self

    def release(self) -> None:
        self._release.set()
        self._thread.join(60)

    def __exit__(self, *_: object) -> None:
        self.release()
