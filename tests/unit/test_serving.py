"""The dashboard app's Voila settings (gallery_analytics/serving.py), without serving:
the argument list, read back by Voila's own command-line parser, and the kernels'
environment. Serving and culling are tested in tests/integration/test_dashboard_serving.py.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from gallery_analytics import cli
from gallery_analytics.config import Settings
from gallery_analytics.errors import ValidationError
from gallery_analytics.serving import (
    PAGE_TITLE,
    KernelCulling,
    dashboard_notebook,
    voila_arguments,
    voila_command,
    voila_environment,
)

NOTEBOOK = Path("/srv/notebooks/06-interactive-dashboard.ipynb")


class Parsed:
    """What Voila itself makes of ``arguments``: its own parser, then the objects the
    configuration is for (typed values, as the server would see them)."""

    def __init__(self, arguments: list[str]) -> None:
        from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
        from voila.app import Voila
        from voila.configuration import VoilaConfiguration

        self.app = Voila()
        with warnings.catch_warnings():  # the dict options' deprecation (see serving.main)
            warnings.simplefilter("ignore", DeprecationWarning)
            self.app.parse_command_line(arguments)
        self.kernels = AsyncMappingKernelManager(config=self.app.config)
        self.voila = VoilaConfiguration(parent=self.app)


def test_voila_reads_every_setting_as_meant() -> None:
    parsed = Parsed(voila_arguments(NOTEBOOK, port=8870, host="0.0.0.0"))
    app = parsed.app
    assert app.extra_args == [str(NOTEBOOK)]
    assert app.port == 8870
    assert app.ip == "0.0.0.0"
    assert app.port_retries == 0  # a taken port is an error, not another port
    assert app.open_browser is False
    assert app.tornado_settings == {"websocket_compression_options": {"compression_level": 1}}
    kernels = parsed.kernels
    assert (kernels.cull_idle_timeout, kernels.cull_interval) == (300, 30)
    assert kernels.cull_connected is False  # an open page's kernel is never culled
    assert kernels.cull_busy is False
    assert parsed.voila.resources == {"metadata": {"name": PAGE_TITLE}}
    assert parsed.voila.show_tracebacks is False
    assert parsed.voila.strip_sources is True
    assert parsed.voila.preheat_kernel is True  # a page opens in 2 s instead of 11
    assert parsed.voila.default_pool_size == 1


def test_culling_preheating_browser_and_title_are_options() -> None:
    arguments = voila_arguments(
        NOTEBOOK,
        open_browser=True,
        culling=KernelCulling.after(20),
        preheat=False,
        title="Sales <2024>",
    )
    parsed = Parsed(arguments)
    assert parsed.app.open_browser is True
    assert (parsed.kernels.cull_idle_timeout, parsed.kernels.cull_interval) == (20, 5)
    assert parsed.voila.preheat_kernel is False
    assert parsed.voila.resources == {"metadata": {"name": "Sales <2024>"}}


@pytest.mark.parametrize(("idle", "interval"), [(1, 1), (8, 2), (20, 5), (300, 30), (3600, 30)])
def test_culling_looks_a_few_times_within_the_idle_time(idle: int, interval: int) -> None:
    assert KernelCulling.after(idle) == KernelCulling(idle, interval)


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "60"])
def test_culling_takes_whole_positive_seconds(bad: Any) -> None:
    with pytest.raises(ValidationError, match="idle_seconds"):
        KernelCulling(idle_seconds=bad)


@pytest.mark.parametrize("port", [0, 65536, -1, True])
def test_a_port_outside_1_to_65535_is_refused(port: Any) -> None:
    with pytest.raises(ValidationError, match="port"):
        voila_arguments(NOTEBOOK, port=port)


@pytest.mark.parametrize("host", ["", "  "])
def test_an_empty_host_is_refused(host: str) -> None:
    with pytest.raises(ValidationError, match="host"):
        voila_arguments(NOTEBOOK, host=host)


def test_voila_runs_in_this_environment_through_the_quiet_entry_point() -> None:
    command = voila_command(["x.ipynb"])
    assert command[1:] == ["-m", "gallery_analytics.serving", "x.ipynb"]
    assert Path(command[0]).name.startswith("python")


def test_the_dashboard_notebook_is_the_checkouts_notebook_06() -> None:
    assert dashboard_notebook().is_file()
    assert dashboard_notebook().name == "06-interactive-dashboard.ipynb"


def test_kernels_get_the_commands_settings_and_no_env_file() -> None:
    url = "postgresql+asyncpg://writer:secret@db.example/gallery"
    settings = Settings(database_url=url, today="2025-01-31")
    base = {"PATH": "/usr/bin", "GALLERY_POOL_SIZE": "3", "gallery_today": "1999-01-01"}
    environment = voila_environment(settings, base)
    assert environment["GALLERY_DATABASE_URL"] == url  # with its password: kernels connect
    assert environment["GALLERY_TODAY"] == "2025-01-31"
    assert environment["GALLERY_ENV_FILE"] == os.devnull
    assert "GALLERY_POOL_SIZE" not in environment  # this process's own, not the command's
    assert "gallery_today" not in environment
    assert environment["PATH"] == "/usr/bin"


def test_the_cli_refuses_a_bad_port_before_serving(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dashboard", "--port", "0", "--no-browser"]) == 2
    assert "--port" in capsys.readouterr().err


def test_the_cli_refuses_a_bad_cull_time_before_serving(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["dashboard", "--cull-after", "0"]) == 2
    assert "--cull-after" in capsys.readouterr().err
