"""Serving the dashboard and loading the machine, for the browser tests and benchmark.

``serve_dashboard`` runs ``gallery-analytics dashboard`` as an analyst would (the CLI
replaces itself with Voila, so the process is Voila's); ``burn_cpus`` keeps every core
busy, the condition under which the dashboard used to show stale charts.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy.engine import URL

from gallery_analytics.db.roles import APP_ROLES


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def burn_cpus(count: int | None = None) -> Iterator[list[subprocess.Popen[bytes]]]:
    """One busy-looping shell per core this process may use (or ``count``), killed on exit."""
    cores = count if count is not None else len(os.sched_getaffinity(0))
    burners = [
        subprocess.Popen(["sh", "-c", "while :; do :; done"], start_new_session=True)
        for _ in range(cores)
    ]
    try:
        yield burners
    finally:
        for burner in burners:
            burner.kill()
        for burner in burners:
            burner.wait()


@dataclass
class ServedDashboard:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kernels(self) -> list[psutil.Process]:
        """The kernel processes Voila runs now (one per open page)."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        found = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                if "ipykernel_launcher" in " ".join(child.cmdline()):
                    found.append(child)
        return found

    def kernel_rss_bytes(self) -> int:
        total = 0
        for kernel in self.kernels():
            with contextlib.suppress(psutil.Error):
                total += kernel.memory_info().rss
        return total


def _environment(database_url: URL) -> dict[str, str]:
    """A user's environment: none of this process's GALLERY_* settings, the database's
    writer URL, and its SELECT-only reader as a deployment would configure it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    environment["GALLERY_DATABASE_URL"] = database_url.render_as_string(hide_password=False)
    if database_url.username == APP_ROLES.writer:
        reader = database_url.set(username=APP_ROLES.reader)
        environment["GALLERY_READ_DATABASE_URL"] = reader.render_as_string(hide_password=False)
    return environment


@contextlib.contextmanager
def serve_dashboard(
    database_url: URL,
    log: Path,
    *,
    port: int | None = None,
    options: Sequence[str] = (),
    startup_seconds: float = 90,
) -> Iterator[ServedDashboard]:
    """``gallery-analytics dashboard --no-browser`` on a free loopback port against
    ``database_url``, until the block ends (then Voila and its kernels are stopped)."""
    port = port or free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gallery_analytics.cli",
                "dashboard",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--no-browser",
                *options,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=_environment(database_url),
        )
    served = ServedDashboard(f"http://127.0.0.1:{port}/", process, log)
    try:
        deadline = time.monotonic() + startup_seconds
        while True:  # listening is enough: a GET of the page would start a kernel
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield served
    finally:
        kernels = served.kernels()
        process.terminate()  # Voila shuts its kernels down on SIGTERM
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for kernel in kernels:  # any Voila could not stop in time
            with contextlib.suppress(psutil.Error):
                kernel.kill()
