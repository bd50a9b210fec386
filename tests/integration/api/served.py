"""``gallery-analytics serve`` as a real process on a free loopback port, for tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from gallery_analytics.db.database import Database
from gallery_analytics.db.roles import APP_ROLES
from tests.browser.harness import free_port


def api_environment(db: Database, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A deployment's environment: none of this process's GALLERY_* settings, the
    database's writer, SELECT-only reader and schema owner (tokens are the owner's)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    environment["GALLERY_DATABASE_URL"] = db.url.render_as_string(hide_password=False)
    reader = db.url.set(username=APP_ROLES.reader)
    environment["GALLERY_READ_DATABASE_URL"] = reader.render_as_string(hide_password=False)
    environment["GALLERY_ADMIN_DATABASE_URL"] = db.admin_url.render_as_string(hide_password=False)
    environment["GALLERY_ENV_FILE"] = os.devnull
    environment.update(extra or {})
    return environment


def cli(db: Database, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run a gallery-analytics command against ``db``; its stdout (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-m", "gallery_analytics.cli", *args],
        capture_output=True,
        text=True,
        env=api_environment(db, env),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class ServedApi:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def processes(self) -> list[psutil.Process]:
        """The server and its workers."""
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        return []


@contextlib.contextmanager
def serve_api(
    db: Database,
    log: Path,
    *,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    startup_seconds: float = 90,
) -> Iterator[ServedApi]:
    """``gallery-analytics serve`` against ``db`` until the block ends (then SIGTERM,
    and SIGKILL for anything left)."""
    port = free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gallery_analytics.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *options,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=api_environment(db, env),
        )
    served = ServedApi(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{served.url}/health/live", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield served
    finally:
        left = served.processes()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for child in left:
            with contextlib.suppress(psutil.Error):
                child.kill()
