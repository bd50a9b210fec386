"""Serving the interactive dashboard as an app: every Voila setting in one place.

``gallery-analytics dashboard`` runs Voila on ``notebooks/06-interactive-dashboard.ipynb``
with :func:`voila_arguments`; the browser test and the browser benchmark start it the
same way, so what is measured is what is served. Why each setting (Voila 0.5.13 on
jupyter_server 2, read from their sources):

- **Kernel culling** (``MappingKernelManager.cull_*``; Voila's kernel manager is
  jupyter_server's ``AsyncMappingKernelManager``, configured by class name). Each page
  view runs its own kernel (~300 MB with the dashboard loaded). Voila's page asks for
  its kernel's shutdown in ``beforeunload`` (a ``sendBeacon``), but that never fires
  for a crashed or killed browser, a discarded tab or a lost network, and those kernels
  ran forever (five such views left 1.5 GB). A kernel with no page connected
  (``cull_connected`` off: an open page left idle is never culled) and no activity for
  ``cull_idle_seconds`` is shut down; busy kernels are left alone (``cull_busy`` off).
- **No fall-back port** (``Voila.port_retries=0``): a taken port is an error, not a
  silent move to the next one, so the address printed and bookmarked is the one served.
- **Websocket compression** (``Voila.tornado_settings``: jupyter_server's kernel
  websocket handler returns ``settings["websocket_compression_options"]`` from
  ``get_compression_options``, and Voila copies ``tornado_settings`` into the
  application's settings): widget state, JavaScript bundles included, is text that
  deflates 3-4x. Level 1: the full plotly.js (4.8 MB) deflates to 1.7 MB in 0.06 s; level 6
  gains 0.2 MB for 2.5x the CPU, which a loaded server has less of.
- **Gzipped HTTP responses** (tornado's ``compress_response``). Voila's JavaScript is
  most of a view's bytes (about 10 MB, sent again on every view: Voila serves its
  extensions uncached). Tornado reads ``compress_response`` only when the application is
  built, and Voila applies ``tornado_settings`` after building it, so it cannot be set
  on the command line: :func:`main` runs Voila with it in the settings it builds from.
- **The page title** (``VoilaConfiguration.resources``: the templates title the page
  with the notebook's ``title`` metadata, else ``resources.metadata.name``, which is the
  file name "06-interactive-dashboard" unless set here).
- **A preheated kernel** (``VoilaConfiguration.preheat_kernel``, a pool of one): a kernel
  that has already run the notebook waits for the next page, which then opens in about
  2 s instead of 11 (see :data:`PREHEAT_DEFAULT`); pooled kernels are never culled.

Kernels get the settings of the command that started Voila
(:func:`gallery_analytics.config.process_environment`: its ``GALLERY_*`` values and no
``.env`` of their own), as report and notebook kernels do.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gallery_analytics.config import Settings, process_environment
from gallery_analytics.errors import ValidationError
from gallery_analytics.extras import require_extra

__all__ = [
    "DASHBOARD_NOTEBOOK",
    "PAGE_TITLE",
    "KernelCulling",
    "dashboard_notebook",
    "voila_arguments",
    "voila_command",
    "voila_environment",
]

DASHBOARD_NOTEBOOK: Final = "06-interactive-dashboard.ipynb"
PAGE_TITLE: Final = "Gallery dashboard"
DEFAULT_PORT: Final = 8866
DEFAULT_HOST: Final = "127.0.0.1"  # only this machine, unless asked for (--host 0.0.0.0)
WEBSOCKET_COMPRESSION_LEVEL: Final = 1
# Measured with benchmarks/browser_dashboard.py (medium data, this 2-core machine, new
# dashboard): first full view 11.1 s without, 2.1 s with a preheated kernel (17.9 s and
# 3.3 s with every core busy); the target is 4 s. The price: the pooled kernel holds
# ~260 MB all the time. The page it serves would show data as of when it ran the notebook,
# so the dashboard reloads a view older than 30 s when a page opens on it
# (gallery_analytics.widgets.dashboard.STALE_AFTER_SECONDS).
PREHEAT_DEFAULT: Final = True


@dataclass(frozen=True, slots=True)
class KernelCulling:
    """When Voila shuts down the kernel of a page that is gone.

    ``idle_seconds``: a kernel with no page connected and no activity for this long is
    shut down (5 minutes: a page that lost its network briefly reconnects before that);
    ``interval_seconds``: how often Voila looks.
    """

    idle_seconds: int = 300
    interval_seconds: int = 30

    @classmethod
    def after(cls, idle_seconds: int) -> KernelCulling:
        """Cull after ``idle_seconds``, looking a few times within that (at most every
        30 s), so a kernel outlives its page by at most about 1.25 times that."""
        if isinstance(idle_seconds, bool) or not isinstance(idle_seconds, int):
            raise ValidationError("idle_seconds", f"must be whole seconds, got {idle_seconds!r}")
        return cls(idle_seconds, max(1, min(30, idle_seconds // 4)))

    def __post_init__(self) -> None:
        for name in ("idle_seconds", "interval_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValidationError(name, f"must be whole seconds above 0, got {value!r}")


def dashboard_notebook() -> Path:
    """The dashboard notebook of this checkout (``notebooks/06-...``)."""
    from gallery_analytics.notebooks import notebooks_dir

    return notebooks_dir() / DASHBOARD_NOTEBOOK


def _port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValidationError("port", f"must be a port number from 1 to 65535, got {port!r}")
    return port


def _dict_option(trait: str, value: Mapping[str, object]) -> str:
    """A traitlets dict on the command line, as one Python literal. (traitlets 5's
    ``--Trait=key=value`` form keeps each value a string, so nested dicts such as the
    compression options cannot be given that way; the whole-dict form is deprecated but
    is the only one that carries them: :func:`main` hides that warning.)"""
    return f"--{trait}={dict(value)!r}"


def voila_arguments(
    notebook: Path,
    *,
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    open_browser: bool = False,
    culling: KernelCulling | None = None,
    preheat: bool = PREHEAT_DEFAULT,
    title: str = PAGE_TITLE,
) -> list[str]:
    """Voila's command-line arguments to serve ``notebook`` as the dashboard app (see
    the module docstring for why each one)."""
    culling = culling or KernelCulling()
    if not isinstance(host, str) or not host.strip():
        raise ValidationError("host", f"must be a host name or address, got {host!r}")
    tornado_settings = {
        "websocket_compression_options": {"compression_level": WEBSOCKET_COMPRESSION_LEVEL},
    }
    arguments = [
        str(notebook),
        f"--Voila.port={_port(port)}",
        f"--Voila.ip={host}",
        "--Voila.port_retries=0",
        f"--Voila.open_browser={open_browser}",
        _dict_option("Voila.tornado_settings", tornado_settings),
        f"--MappingKernelManager.cull_idle_timeout={culling.idle_seconds}",
        f"--MappingKernelManager.cull_interval={culling.interval_seconds}",
        "--MappingKernelManager.cull_connected=False",
        "--MappingKernelManager.cull_busy=False",
        _dict_option("VoilaConfiguration.resources", {"metadata": {"name": title}}),
        "--VoilaConfiguration.show_tracebacks=False",
        "--VoilaConfiguration.strip_sources=True",
    ]
    if preheat:
        arguments += ["--VoilaConfiguration.preheat_kernel=True", "--pool_size=1"]
    return arguments


def voila_command(arguments: list[str]) -> list[str]:
    """The command that runs Voila with ``arguments`` in this Python environment, through
    :func:`main` (a ``MissingExtraError`` naming the ``app`` extra when Voila is not
    installed)."""
    with require_extra("app", needed_by="gallery-analytics dashboard"):
        import voila  # type: ignore[import-untyped]  # noqa: F401  (checked only: Voila runs in its own process)
    return [sys.executable, "-m", "gallery_analytics.serving", *arguments]


def voila_environment(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Voila process's environment, which its kernels inherit: ``settings`` as
    ``GALLERY_*`` variables and no ``.env`` of their own."""
    environment = process_environment(settings, base)
    environment["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # the kernels' debugger, as notebooks.py
    return environment


def main(argv: list[str] | None = None) -> None:
    """Run Voila with ``argv`` (``python -m gallery_analytics.serving ARGS``): Voila's own
    application with gzipped HTTP responses (see the module docstring), and without
    traitlets' deprecation warning for the dict options, which Voila turns back on when
    imported (it would be the first thing a user reads)."""
    import warnings

    from voila.app import Voila  # type: ignore[import-untyped]

    class GalleryVoila(Voila):  # type: ignore[misc]
        def init_settings(self) -> dict[str, Any]:
            settings: dict[str, Any] = super().init_settings()
            settings["compress_response"] = True  # read when the application is built
            return settings

    warnings.filterwarnings(
        "ignore", message=r"--\S+=\{.*for dict-traits is deprecated", category=DeprecationWarning
    )
    GalleryVoila.launch_instance(argv=sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
