"""Optional dependency groups: the core works without Jupyter, and a module whose extra is
missing says which extra to install.

A fresh virtualenv without the extras would take minutes to build, so each check runs
in a fresh interpreter whose imports of the extras' packages fail as if they were not
installed (tests/unit/fresh_interpreters.py runs them all in one subprocess).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.unit.fresh_interpreters import (
    NEEDING_THE_API_EXTRA,
    NEEDING_THE_NOTEBOOK_EXTRA,
    outcome,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_core_imports_without_the_extras() -> None:
    assert outcome("core_failures") == {}


@pytest.mark.parametrize("module", NEEDING_THE_NOTEBOOK_EXTRA)
def test_a_module_needing_a_missing_extra_names_it(module: str) -> None:
    result = outcome(f"missing_extra:{module}")
    assert result["extra"] == "notebook"
    assert result["import_error"] is True
    assert "pip install 'gallery-analytics[notebook]'" in str(result["error"])
    needed_by = str(result["error"]).split()[0]
    assert module.startswith(needed_by)  # the module, or its package that needs the extra


@pytest.mark.parametrize("module", NEEDING_THE_API_EXTRA)
def test_the_http_api_without_its_extra_names_it(module: str) -> None:
    result = outcome(f"missing_extra:{module}")
    assert result["extra"] == "api"
    assert "pip install 'gallery-analytics[api]'" in str(result["error"])


def test_run_sync_under_a_running_loop_names_the_extra() -> None:
    assert "pip install 'gallery-analytics[notebook]'" in str(outcome("run_sync_error"))


def test_the_widget_module_does_not_load_reports_or_the_demo() -> None:
    """With the extras installed, importing the widget module first loads neither
    papermill, nbconvert, the report and notebook modules, nor the demo generator."""
    assert outcome("widgets_loaded") == []


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
    web = {"fastapi", "uvicorn", "python-multipart", "fastapi-offline"}
    assert not core & (jupyter | web)
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    assert jupyter - {"voila"} <= _names(extras["notebook"])
    assert "voila" in _names(extras["app"])
    assert web <= _names(extras["api"])
    # app brings the notebook extra; dev brings all three, so `make test` installs everything.
    assert "gallery-analytics[notebook]" in extras["app"]
    assert "gallery-analytics[notebook,app,api]" in extras["dev"]
