"""Checks that need an interpreter which has not imported the project yet, run together.

Each check used to start its own interpreter (~1-3 s each, mostly importing the same
libraries). Here one subprocess runs them all, each in its own forked child. The core
third-party libraries are loaded once first; they import nothing from the extras (checked),
so loading them with or without the extras makes no difference. The checks that need
the real environment fork from there; then the notebook/app extras are blocked (their
imports fail as if they were not installed) and each remaining check forks: it imports
the project exactly as a fresh interpreter without the extras would.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Top-level modules of the notebook and app extras (and what they pull in).
EXTRA_MODULES = (
    "jupyterlab",
    "jupyter_server",
    "ipywidgets",
    "anywidget",
    "papermill",
    "nbconvert",
    "nbclient",
    "nbformat",
    "nest_asyncio2",
    "voila",
    "ipykernel",
    "IPython",
    # the api extra
    "fastapi",
    "fastapi_offline",
    "starlette",
    "uvicorn",
    "python_multipart",
)

CORE_MODULES = (
    "gallery_analytics",
    "gallery_analytics.services",
    "gallery_analytics.queries",
    "gallery_analytics.frames",
    "gallery_analytics.charts",
    "gallery_analytics.imports",
    "gallery_analytics.db",
    "gallery_analytics.demo",
    "gallery_analytics.cli",  # its report and notebooks commands import those on use
)

NEEDING_THE_NOTEBOOK_EXTRA = (
    "gallery_analytics.widgets",
    "gallery_analytics.widgets.dashboard",
    "gallery_analytics.reports",
    "gallery_analytics.notebooks",
)

NEEDING_THE_API_EXTRA = ("gallery_analytics.api",)

# Core libraries the project imports, loaded once before forking (also by
# test_package_structure, which adds the notebook extra's).
CORE_LIBRARIES = (
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.postgresql.asyncpg",
    "alembic.command",
    "pandas",
    "pyarrow.csv",
    "pydantic_settings",
    "typer",
    "tqdm.auto",
    "plotly.graph_objects",
    "plotly.io",
    "asyncpg",
)

_SCRIPT = f"""
import importlib, importlib.abc, json, os, sys, traceback

def fork(check, *args):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            answer = {{"value": check(*args)}}
        except BaseException:
            answer = {{"crash": traceback.format_exc()}}
        os.write(write, json.dumps(answer).encode())
        os._exit(0)
    os.close(write)
    return pid, read

def collect(pid, read):
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    status = os.waitpid(pid, 0)[1]
    return json.loads(b"".join(chunks) or b'{{"crash": "exit status %d"}}' % status)

for name in {CORE_LIBRARIES!r}:
    importlib.import_module(name)
assert not any(m.startswith("gallery_analytics") for m in sys.modules)
BLOCKED = {EXTRA_MODULES!r}
assert not {{m.partition(".")[0] for m in sys.modules}} & set(BLOCKED)

# -- in the real environment --

def widgets_loaded():
    import gallery_analytics.widgets
    return sorted(
        m for m in sys.modules
        if m.partition(".")[0] in ("papermill", "nbconvert")
        or m.startswith(("gallery_analytics.demo", "gallery_analytics.reports",
                         "gallery_analytics.notebooks"))
    )

def charts_template():
    import plotly.io as pio
    before = pio.templates.default
    import gallery_analytics.charts
    return [before == pio.templates.default, "gallery" in pio.templates]

jobs = {{"widgets_loaded": fork(widgets_loaded), "charts_template": fork(charts_template)}}

# -- with the extras blocked --

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())

def core_failures():
    failures = {{}}
    for name in {CORE_MODULES!r}:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failures[name] = f"{{type(exc).__name__}}: {{exc}}"
    return failures

def missing_extra(module):
    import gallery_analytics as ga
    try:
        importlib.import_module(module)
    except ga.MissingExtraError as exc:
        is_import_error = isinstance(exc, ImportError)
        return {{"error": str(exc), "extra": exc.extra, "import_error": is_import_error}}
    return {{"error": None}}

def run_sync_error():
    import asyncio, warnings
    warnings.simplefilter("error")  # an unclosed coroutine would warn
    import gallery_analytics as ga

    async def answer():
        return 42

    async def main():
        try:
            ga.run_sync(answer())
        except ga.MissingExtraError as exc:
            return str(exc)

    return asyncio.run(main())

jobs["core_failures"] = fork(core_failures)
for module in {NEEDING_THE_NOTEBOOK_EXTRA!r} + {NEEDING_THE_API_EXTRA!r}:
    jobs["missing_extra:" + module] = fork(missing_extra, module)
jobs["run_sync_error"] = fork(run_sync_error)
print(json.dumps({{name: collect(*job) for name, job in jobs.items()}}))
"""


# -- running these subprocesses while the in-process tests run ----------------------------


@dataclass
class _Run:
    args: list[str]
    env: dict[str, str] | None
    used_by: tuple[str, ...]  # node ids (or their prefixes) of the tests that read it
    process: subprocess.Popen[str] | None = None


_RUNS: dict[str, _Run] = {}


def register(name: str, args: list[str], *, used_by: tuple[str, ...], env: Any = None) -> None:
    """Declare a subprocess some tests read; it starts when those tests are collected
    (see tests/unit/conftest.py) or, at the latest, when one of them asks for it."""
    _RUNS.setdefault(name, _Run(args=args, env=env, used_by=used_by))


def start(name: str) -> None:
    run = _RUNS[name]
    if run.process is None:
        run.process = subprocess.Popen(
            run.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=run.env,
        )


def start_for(node_ids: list[str]) -> None:
    """Start, in the background, every registered run a selected test will read: on two
    cores, it runs while this process runs the other tests."""
    for name, run in _RUNS.items():
        if any(node_id.startswith(run.used_by) for node_id in node_ids):
            start(name)


def stop_unread() -> None:
    """End the runs started for tests that did not read them (e.g. after ``-x``)."""
    for run in _RUNS.values():
        if run.process is not None and run.process.returncode is None:
            run.process.kill()
            run.process.communicate()


def finish(name: str, *, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The run's outcome (started now if it was not yet)."""
    start(name)
    process = _RUNS[name].process
    assert process is not None
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


register(
    "fresh_interpreters",
    [sys.executable, "-c", _SCRIPT],
    used_by=(
        "tests/unit/test_extras.py::test_the_core_imports_without_the_extras",
        "tests/unit/test_extras.py::test_a_module_needing_a_missing_extra_names_it",
        "tests/unit/test_extras.py::test_run_sync_under_a_running_loop_names_the_extra",
        "tests/unit/test_extras.py::test_the_widget_module_does_not_load_reports_or_the_demo",
        "tests/unit/test_charts.py::test_importing_does_not_change_the_default_template",
    ),
)


@functools.cache
def outcomes() -> dict[str, Any]:
    """Every check's answer by name (run once per test process)."""
    completed = finish("fresh_interpreters", timeout=180)
    assert completed.returncode == 0, completed.stderr
    answers: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return answers


def outcome(name: str) -> Any:
    """One check's value; a check that raised fails the test with its traceback."""
    answer = outcomes()[name]
    assert "crash" not in answer, answer["crash"]
    return answer["value"]
