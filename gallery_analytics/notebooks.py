"""Run the analyst notebooks against a known database, and keep their outputs current.

Notebooks are committed with their outputs (nbval compares a fresh run against them),
so they must run against a database that always holds the same rows: the small demo
dataset with the fixed demo seed, in its own database (``gallery_notebooks``) so it
never disturbs an analyst's own data. ``gallery-analytics notebooks`` re-executes every
notebook in place against it; the tests do the same through nbval.

A kernel sees the configuration of the command that started it: its ``GALLERY_*``
variables are the command's resolved settings (:func:`kernel_environment`), not whatever
``.env`` its own folder would find.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from gallery_analytics.extras import require_extra

with require_extra("notebook", needed_by=__name__):
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

from gallery_analytics.config import Settings, process_environment
from gallery_analytics.db.admin import ensure_database
from gallery_analytics.db.database import Database
from gallery_analytics.db.roles import RoleUrls, provision_database, role_urls
from gallery_analytics.db.schema import upgrade_schema
from gallery_analytics.db.translate import translate_error
from gallery_analytics.demo.generate import DEFAULT_SEED
from gallery_analytics.demo.load import seed_demo
from gallery_analytics.errors import (
    ConfigurationError,
    NotebookExecutionError,
    ValidationError,
)

NOTEBOOK_DATABASE = "gallery_notebooks"
NOTEBOOK_SIZE = "small"
EXECUTION_TIMEOUT_SECONDS = 600


def notebooks_dir() -> Path:
    """The project's notebooks folder (a source checkout has it next to the package)."""
    folder = Path(__file__).resolve().parent.parent / "notebooks"
    if not folder.is_dir():
        raise ConfigurationError(
            f"the notebooks folder {folder} does not exist; notebooks and reports need a "
            "source checkout of gallery-analytics (pip install -e .)"
        )
    return folder


def notebook_paths(names: Iterable[str] = ()) -> list[Path]:
    """Numbered notebooks in order, or the ones named (with or without .ipynb)."""
    folder = notebooks_dir()
    available = sorted(folder.glob("[0-9][0-9]-*.ipynb"))
    wanted = [name.removesuffix(".ipynb") for name in names]
    if not wanted:
        return available
    by_stem = {path.stem: path for path in available}
    unknown = [name for name in wanted if name not in by_stem]
    if unknown:
        raise ValidationError(
            "notebook", f"unknown notebook {unknown[0]!r}; expected one of {', '.join(by_stem)}"
        )
    return [by_stem[name] for name in wanted]


async def prepare_notebook_database(server_url: URL, *, provision_roles: bool) -> RoleUrls:
    """Create (if needed) and reseed the notebooks' database; return its role URLs.

    ``provision_roles`` (the embedded server, the tests' own server: never a shared one,
    where creating roles is a DBA's decision) gives the database the application roles,
    so notebooks run as an analyst would: writing as the writer, reading as the
    SELECT-only reader. Otherwise every role is the given URL's.
    """
    try:
        await ensure_database(server_url, NOTEBOOK_DATABASE)
    except Exception as exc:  # a closed port or a wrong password: one line, not a traceback
        translated = translate_error(exc)
        if translated is None:
            raise
        raise translated from exc
    if provision_roles:
        await provision_database(server_url, NOTEBOOK_DATABASE)
        urls = role_urls(server_url, NOTEBOOK_DATABASE)
    else:
        url = server_url.set(database=NOTEBOOK_DATABASE)
        urls = RoleUrls(owner=url, writer=url, reader=url)
    async with Database(urls.writer, read_url=urls.reader, admin_url=urls.owner) as db:
        await upgrade_schema(db.admin_url)
        await seed_demo(db, size=NOTEBOOK_SIZE, seed=DEFAULT_SEED, progress=False)
    return urls


def kernel_environment(urls: RoleUrls, *, settings: Settings | None = None) -> dict[str, str]:
    """The ``GALLERY_*`` variables of a notebook kernel: ``settings`` (the command's; by
    default none beyond the database) pointed at the notebook database ``urls``."""
    return _pointed_at(urls, settings).as_environment()


def _pointed_at(urls: RoleUrls, settings: Settings | None) -> Settings:
    return (settings or Settings()).model_copy(
        update={
            "database_url": urls.writer,
            "read_database_url": urls.reader,
            "admin_database_url": urls.owner,
        }
    )


class _EnvironmentKernelManager(AsyncKernelManager):
    """Starts its kernel with :attr:`kernel_environment` (papermill passes no ``env``)."""

    kernel_environment: dict[str, str] = {}  # noqa: RUF012 (set per subclass, read-only)

    async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        kw.setdefault("env", dict(self.kernel_environment))
        await super().start_kernel(**kw)


def kernel_manager_class(environment: Mapping[str, str]) -> type[AsyncKernelManager]:
    """A kernel manager class whose kernels run with exactly ``environment``, for papermill
    (``execute_notebook(..., kernel_manager_class=...)``).

    A class rather than a manager instance: the client then owns the manager it makes
    and shuts the kernel and its channels down itself (a manager passed in is left
    running, and its kernel outlives the report).
    """
    return type(
        "GalleryKernelManager",
        (_EnvironmentKernelManager,),
        {"kernel_environment": dict(environment)},
    )


def execute_notebook(path: Path, *, database: RoleUrls, settings: Settings | None = None) -> None:
    """Execute ``path`` top to bottom on a fresh kernel and save it with its outputs.

    The kernel gets ``settings`` (the command's) pointed at ``database``, and no ``.env``
    of its own (:func:`gallery_analytics.config.process_environment`).
    """
    notebook = nbformat.read(path, as_version=4)
    environment: Mapping[str, str] = {
        **process_environment(_pointed_at(database, settings)),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    client = NotebookClient(
        notebook,
        timeout=EXECUTION_TIMEOUT_SECONDS,
        kernel_name="python3",
        store_widget_state=False,  # model ids are random: state would churn every run
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute(env=dict(environment))
    except CellExecutionError as exc:
        raise NotebookExecutionError(
            f"{path.name}: a cell failed with {exc.ename}: {' '.join(str(exc.evalue).split())}"
        ) from None
    _drop_volatile_metadata(notebook)
    nbformat.write(notebook, path)


def _drop_volatile_metadata(notebook: nbformat.NotebookNode) -> None:
    """Execution timestamps and widget state change on every run (random model ids, and
    plotly's FigureWidget state embeds plotly.js); keep diffs to real output changes."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
