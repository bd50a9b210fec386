"""Optional dependency groups: the core works without Jupyter, and a module whose extra is
missing says which extra to install.

A fresh virtualenv without the extras would take minutes to build, so each check runs
in a subprocess whose imports of the extras' packages fail as if they were not installed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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

_BLOCKER = f"""
import importlib.abc, sys
BLOCKED = {EXTRA_MODULES!r}

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""


def _run(code: str) -> dict[str, object]:
    """Run ``code`` with the extras blocked; it prints one JSON object as its last line."""
    completed = subprocess.run(
        [sys.executable, "-c", _BLOCKER + code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _import_failures(modules: tuple[str, ...]) -> dict[str, object]:
    return _run(
        f"""
import importlib, json
failures = {{}}
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failures[name] = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps(failures))
"""
    )


def test_the_core_imports_without_the_extras() -> None:
    assert _import_failures(CORE_MODULES) == {}


@pytest.mark.parametrize(
    "module",
    [
        "gallery_analytics.widgets",
        "gallery_analytics.widgets.dashboard",
        "gallery_analytics.reports",
        "gallery_analytics.notebooks",
    ],
)
def test_a_module_needing_a_missing_extra_names_it(module: str) -> None:
    result = _run(
        f"""
import json
import gallery_analytics as ga
try:
    import {module}
except ga.MissingExtraError as exc:
    print(json.dumps({{"error": str(exc), "extra": exc.extra, "import_error":
        isinstance(exc, ImportError)}}))
else:
    print(json.dumps({{"error": None}}))
"""
    )
    assert result["extra"] == "notebook"
    assert result["import_error"] is True
    assert "pip install 'gallery-analytics[notebook]'" in str(result["error"])
    needed_by = str(result["error"]).split()[0]
    assert module.startswith(needed_by)  # the module, or its package that needs the extra


def test_run_sync_under_a_running_loop_names_the_extra() -> None:
    result = _run(
        """
import asyncio, json, warnings
warnings.simplefilter("error")  # an unclosed coroutine would warn
import gallery_analytics as ga

async def answer():
    return 42

async def main():
    try:
        ga.run_sync(answer())
    except ga.MissingExtraError as exc:
        return str(exc)

print(json.dumps({"error": asyncio.run(main())}))
"""
    )
    assert "pip install 'gallery-analytics[notebook]'" in str(result["error"])


def test_the_widget_module_does_not_load_reports_or_the_demo() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys; import gallery_analytics.widgets; "
            "print(json.dumps(sorted(m for m in sys.modules if m.partition('.')[0] in "
            "('papermill', 'nbconvert') or m.startswith(('gallery_analytics.demo', "
            "'gallery_analytics.reports', 'gallery_analytics.notebooks')))))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


_NAME = re.compile(r"[A-Za-z0-9._-]+")  # a requirement's project name, before [extras] or >=


def _names(requirements: object) -> set[str]:
    assert isinstance(requirements, list)
    return {_NAME.match(str(r))[0].lower() for r in requirements}  # type: ignore[index]


def test_core_dependencies_list_nothing_from_jupyter() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    core = _names(project["dependencies"])
    jupyter = {
        "jupyterlab",
        "ipywidgets",
        "anywidget",
        "nest-asyncio2",
        "papermill",
        "nbconvert",
        "nbclient",
        "nbformat",
        "ipykernel",
        "voila",
    }
    assert not core & jupyter
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    assert jupyter - {"voila"} <= _names(extras["notebook"])
    assert "voila" in _names(extras["app"])
    # app brings the notebook extra; dev brings both, so `make test` installs everything.
    assert "gallery-analytics[notebook]" in extras["app"]
    assert "gallery-analytics[notebook,app]" in extras["dev"]
