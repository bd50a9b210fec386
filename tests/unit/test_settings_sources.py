"""Where settings come from, and where they go: the one ``.env`` file, exact-case
``GALLERY_*`` names, one Settings object passed down (never re-read), and the processes the
workbench starts (notebook kernels) seeing the configuration of the command that started
them. No database: the embedded-server checks stop before any server starts."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from sqlalchemy.engine import make_url

import gallery_analytics
from gallery_analytics.config import (
    ENV_FILE_ENV,
    Settings,
    find_env_file,
    process_environment,
)
from gallery_analytics.db.connect import connect
from gallery_analytics.db.embedded import EmbeddedPostgres, find_postgres_binaries
from gallery_analytics.db.roles import RoleUrls
from gallery_analytics.db.schema import alembic_config, resolve_migration_url
from gallery_analytics.errors import ConfigurationError, EmbeddedServerError

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(gallery_analytics.__file__).resolve().parent
SECRET = "s3cr3t-Pw"


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory of our own and no GALLERY_* variable (any case) from this process."""
    for name in [name for name in os.environ if name.upper().startswith("GALLERY_")]:
        monkeypatch.delenv(name)
    return tmp_path


def _project(root: Path, dotenv: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'elsewhere'\n", encoding="utf-8")
    (root / ".env").write_text(dotenv, encoding="utf-8")
    return root


def _environment(**extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("GALLERY_")}
    # The package is imported from this checkout whatever the working directory.
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return {**environment, **extra}


# -- B2: one .env file, found from anywhere in the project --------------------------------------


def test_dotenv_is_git_ignored() -> None:
    """A .env holds passwords: git must never offer to commit it."""
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", ".env", "notebooks/.env"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.stdout.split() == [".env", "notebooks/.env"], ignored.stderr


def test_a_subprocess_in_a_subdirectory_reads_the_projects_dotenv(tmp_path: Path) -> None:
    """Kernels start in notebooks/ and papermill runs there: they must read the .env at
    the project's root, as the command in the root did."""
    project = _project(
        tmp_path / "project",
        f"GALLERY_DATABASE_URL=postgresql://analyst:{SECRET}@from-dotenv/gallery\n"
        "GALLERY_TODAY=2031-05-06\n",
    )
    subdirectory = project / "notebooks" / "deeper"
    subdirectory.mkdir(parents=True)
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gallery_analytics.config import Settings\n"
            "s = Settings.from_env()\n"
            "print(s.today, s.database_url.host)",
        ],
        cwd=subdirectory,
        env=_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["2031-05-06", "from-dotenv"]


def test_the_cli_in_a_subdirectory_uses_the_projects_dotenv(tmp_path: Path) -> None:
    project = _project(
        tmp_path / "project",
        f"GALLERY_DATABASE_URL=postgresql://analyst:{SECRET}@from-dotenv/gallery\n",
    )
    (project / "reports").mkdir()
    shown = subprocess.run(
        [sys.executable, "-m", "gallery_analytics.cli", "db", "url"],
        cwd=project / "reports",
        env=_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "postgresql+asyncpg://analyst:***@from-dotenv/gallery"


def test_the_nearest_dotenv_wins_and_the_search_stops_at_the_project_root(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean / ".env").write_text("GALLERY_TODAY=1999-01-01\n", encoding="utf-8")  # outside
    project = _project(clean / "project", "GALLERY_TODAY=2031-05-06\n")
    inner = project / "analysis"
    inner.mkdir()
    monkeypatch.chdir(inner)
    assert find_env_file() == project / ".env"
    assert Settings.from_env().today == dt.date(2031, 5, 6)

    (inner / ".env").write_text("GALLERY_POOL_SIZE=3\n", encoding="utf-8")
    assert find_env_file() == inner / ".env"
    nearest = Settings.from_env()  # one file: the nearest, not a merge
    assert (nearest.pool.size, nearest.today) == (3, None)

    (project / ".env").unlink()
    (inner / ".env").unlink()
    assert find_env_file() is None  # never the .env above the project
    assert Settings.from_env().today is None


def test_outside_a_project_only_the_current_directory_counts(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean / ".env").write_text("GALLERY_TODAY=1999-01-01\n", encoding="utf-8")
    (clean / "below").mkdir()
    monkeypatch.chdir(clean / "below")
    assert find_env_file() is None
    monkeypatch.chdir(clean)
    assert find_env_file() == clean / ".env"


def test_gallery_env_file_names_the_file(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = clean / "settings" / "staging.env"
    chosen.parent.mkdir()
    chosen.write_text("GALLERY_TODAY=2030-02-03\n", encoding="utf-8")
    _project(clean / "project", "GALLERY_TODAY=1999-01-01\n")
    monkeypatch.chdir(clean / "project")
    monkeypatch.setenv(ENV_FILE_ENV, str(chosen))
    assert Settings.from_env().today == dt.date(2030, 2, 3)

    monkeypatch.setenv(ENV_FILE_ENV, str(clean / "missing.env"))
    with pytest.raises(ConfigurationError, match=f"{ENV_FILE_ENV}=.*missing.env does not exist"):
        Settings.from_env()


def test_names_are_case_sensitive(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README documents GALLERY_*; a lower-case shell variable (another tool's, a
    typo) is not a setting, in the environment or in the .env file."""
    assert Settings.from_env({"gallery_database_url": "postgresql://u@h/db"}).database_url is None
    assert Settings.from_env({"Gallery_Today": "2030-01-01"}).today is None
    assert Settings.from_env({"GALLERY_pool_size": "3"}).pool.size == 10
    assert Settings.from_env({"GALLERY_POOL_SIZE": "3"}).pool.size == 3

    monkeypatch.chdir(clean)
    (clean / ".env").write_text("gallery_today=2030-01-01\n", encoding="utf-8")
    monkeypatch.setenv("gallery_pool_size", "3")
    settings = Settings.from_env()
    assert (settings.today, settings.pool.size) == (None, 10)


def test_settings_round_trip_through_the_environment() -> None:
    settings = Settings.from_env(
        {
            "GALLERY_DATABASE_URL": f"postgresql://analyst:{SECRET}@primary/gallery",
            "GALLERY_READ_DATABASE_URL": f"postgresql://reader:{SECRET}@replica/gallery",
            "GALLERY_TODAY": "2031-05-06",
            "GALLERY_POOL_SIZE": "3",
            "GALLERY_POOL_PRE_PING": "false",
            "GALLERY_STATEMENT_TIMEOUT_SECONDS": "2.5",
            "GALLERY_EMBEDDED_DIR": "/srv/gallery",
        }
    )
    variables = settings.as_environment()
    assert variables["GALLERY_POOL_PRE_PING"] == "false"
    assert "GALLERY_POOL_MAX_OVERFLOW" not in variables  # defaults are not repeated
    assert Settings.from_env(variables) == settings
    assert Settings().as_environment() == {}


def test_a_child_process_sees_exactly_the_settings() -> None:
    """Stale or lower-case setting variables are replaced, no .env is read, and other
    variables (PATH, GALLERY_TEST_SERVER_URL) are kept."""
    settings = Settings(today=dt.date(2031, 5, 6))
    environment = process_environment(
        settings,
        base={
            "PATH": "/bin",
            "GALLERY_TODAY": "1999-01-01",
            "gallery_pool_size": "3",
            "GALLERY_DATABASE_URL": "postgresql://u@stale/db",
            "GALLERY_TEST_SERVER_URL": "postgresql://u@tests/db",
            ENV_FILE_ENV: "/somewhere/.env",
        },
    )
    assert environment == {
        "PATH": "/bin",
        "GALLERY_TEST_SERVER_URL": "postgresql://u@tests/db",
        "GALLERY_TODAY": "2031-05-06",
        ENV_FILE_ENV: os.devnull,
    }


def test_notebook_kernels_get_the_commands_settings_and_the_notebook_database() -> None:
    notebooks = pytest.importorskip("gallery_analytics.notebooks")
    database = make_url("postgresql+asyncpg://writer:pw@nb/gallery_notebooks")
    urls = RoleUrls(owner=database, writer=database, reader=database.set(username="reader"))
    environment = notebooks.kernel_environment(
        urls,
        settings=Settings(
            database_url=make_url("postgresql://someone@elsewhere/gallery"),
            today=dt.date(2031, 5, 6),
        ),
    )
    kernel = Settings.from_env(environment)
    assert kernel.today == dt.date(2031, 5, 6)
    assert kernel.database_url == database
    assert kernel.read_database_url == database.set(username="reader")
    # Without settings: only the notebook database (nbval's kernels, conftest.py).
    assert set(notebooks.kernel_environment(urls)) == {
        "GALLERY_DATABASE_URL",
        "GALLERY_READ_DATABASE_URL",
        "GALLERY_ADMIN_DATABASE_URL",
    }


@pytest.mark.timeout(120)
def test_a_papermill_kernel_receives_the_settings(tmp_path: Path) -> None:
    """The report's kernel (papermill, cwd notebooks/) sees the command's settings."""
    notebooks = pytest.importorskip("gallery_analytics.notebooks")
    papermill = pytest.importorskip("papermill")
    nbformat = pytest.importorskip("nbformat")
    source = tmp_path / "probe.ipynb"
    probe = nbformat.v4.new_notebook()
    probe.cells.append(
        nbformat.v4.new_code_cell(
            "from gallery_analytics.config import Settings\nprint(Settings.from_env().today)"
        )
    )
    probe.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "P"}
    nbformat.write(probe, source)
    environment = {**_environment(), "GALLERY_TODAY": "1999-01-01"}
    kernels = notebooks.kernel_manager_class(
        process_environment(Settings(today=dt.date(2031, 5, 6)), base=environment)
    )
    executed = papermill.execute_notebook(
        str(source),
        str(tmp_path / "executed.ipynb"),
        cwd=str(tmp_path),
        progress_bar=False,
        kernel_name="python3",
        kernel_manager_class=kernels,
    )
    assert executed.cells[-1].outputs[0]["text"].strip() == "2031-05-06"


# -- M1: one Settings object, passed down -------------------------------------------------------


def test_the_embedded_server_takes_its_settings(clean: Path) -> None:
    settings = Settings(embedded_dir=clean / "data", pg_bindir=clean / "bin")
    server = EmbeddedPostgres(settings=settings)
    assert server.base_dir == clean / "data"
    with pytest.raises(EmbeddedServerError, match=f"GALLERY_PG_BINDIR={clean / 'bin'} holds"):
        _ = server.binaries
    with pytest.raises(EmbeddedServerError, match="GALLERY_PG_BINDIR"):
        find_postgres_binaries(clean / "bin")
    # An explicit directory still wins over the settings' (the tests' throwaway servers).
    assert EmbeddedPostgres(clean / "own", settings=settings).base_dir == clean / "own"


@pytest.mark.skipif(os.geteuid() != 0, reason="the system user matters only under root")
def test_the_system_user_comes_from_the_settings(clean: Path) -> None:
    server = EmbeddedPostgres(clean, settings=Settings(pg_system_user="nobody"))
    account = server._server_user()
    assert account is not None
    assert account.pw_name == "nobody"


async def test_connect_uses_the_settings_it_is_given(clean: Path) -> None:
    """connect(settings=...) reaches the embedded server's binaries: no server starts."""
    settings = Settings(embedded_dir=clean / "data", pg_bindir=clean / "bin")
    with pytest.raises(EmbeddedServerError, match=f"GALLERY_PG_BINDIR={clean / 'bin'} holds"):
        await connect(settings=settings)


def test_migrations_use_settings_given_to_alembic(clean: Path) -> None:
    config = alembic_config()
    config.attributes["settings"] = Settings(
        database_url=make_url("postgresql://owner@given/gallery")
    )
    assert resolve_migration_url(config).host == "given"


# -- B7: dependency bounds and public APIs only --------------------------------------------------

# The versions this code is tested with, and what it needs from them: Typer converting option
# values with pydantic (Annotated[date, BeforeValidator]) and hidden arguments;
# pydantic-settings' BaseSettings and SettingsConfigDict (.env is read by read_env_file).
TESTED_LOWER_BOUNDS = {"typer": Version("0.29.2"), "pydantic-settings": Version("2.16.3")}


def test_dependency_lower_bounds_are_the_tested_versions() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = {
        requirement.name: requirement
        for requirement in map(Requirement, project["project"]["dependencies"])
    }
    for name, tested in TESTED_LOWER_BOUNDS.items():
        lower = [
            Version(spec.version) for spec in requirements[name].specifier if ">" in spec.operator
        ]
        assert lower, f"{name} has no lower bound"
        assert max(lower) >= tested, f"{name}>={max(lower)} was never tested; {tested} is"


def test_no_private_pydantic_settings_module_is_imported() -> None:
    """Only pydantic_settings' top-level API: its submodules change between releases."""
    submodule = re.compile(r"^\s*(?:from|import)\s+pydantic_settings\.", re.MULTILINE)
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if submodule.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
