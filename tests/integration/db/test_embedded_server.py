"""The embedded server and the `gallery-analytics db` commands, in throwaway directories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gallery_analytics.config import Settings
from gallery_analytics.db.embedded import EmbeddedPostgres, find_postgres_binaries
from gallery_analytics.errors import EmbeddedServerError
from tests.conftest import run_cli


def _cli(*args: str, embedded_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"GALLERY_EMBEDDED_DIR": str(embedded_dir), **env}, timeout=180)


def test_db_commands_manage_the_embedded_server(tmp_path: Path) -> None:
    home = tmp_path / "gallery"
    status = _cli("db", "status", embedded_dir=home)
    assert status.returncode == 0, status.stderr
    assert "not initialised" in status.stdout

    try:
        started = _cli("db", "start", embedded_dir=home)
        assert started.returncode == 0, started.stderr
        assert "running" in started.stdout
        assert _cli("db", "start", embedded_dir=home).returncode == 0  # idempotent

        url = _cli("db", "url", embedded_dir=home)
        assert url.returncode == 0
        # The application's role, not the server's superuser.
        assert url.stdout.startswith("postgresql+asyncpg://gallery_writer@/gallery?host=")

        for _ in range(2):  # init is idempotent
            init = _cli("db", "init", embedded_dir=home)
            assert init.returncode == 0, init.stderr
            assert "schema ready" in init.stdout

        seeded = _cli("seed", "--size", "small", "--no-progress", embedded_dir=home)
        assert seeded.returncode == 0, seeded.stderr
        assert "2,000 artworks" in seeded.stdout

        summary = _cli("summary", embedded_dir=home)
        assert summary.returncode == 0, summary.stderr
        assert "Gallery summary on 2025-11-15" in summary.stdout
    finally:
        stopped = _cli("db", "stop", embedded_dir=home)
    assert stopped.returncode == 0
    assert "stopped" in stopped.stdout
    assert "stopped; data kept" in _cli("db", "status", embedded_dir=home).stdout
    url_when_stopped = _cli("db", "url", embedded_dir=home)
    assert url_when_stopped.returncode == 2
    assert "not running" in url_when_stopped.stderr
    assert "Traceback" not in url_when_stopped.stderr


def test_url_command_masks_a_configured_password(tmp_path: Path) -> None:
    result = _cli(
        "db",
        "url",
        embedded_dir=tmp_path,
        GALLERY_DATABASE_URL="postgresql://analyst:hunter2@db.example.org/gallery",
    )
    assert result.returncode == 0
    assert "hunter2" not in result.stdout + result.stderr
    assert result.stdout.strip() == "postgresql+asyncpg://analyst:***@db.example.org/gallery"


def test_bad_configuration_is_one_clear_line(tmp_path: Path) -> None:
    result = _cli("summary", embedded_dir=tmp_path, GALLERY_DATABASE_URL="sqlite:///x.db")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: GALLERY_DATABASE_URL must point at PostgreSQL (postgresql://...), "
        "got a 'sqlite' URL"
    )


SYSTEM_BINDIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


@pytest.mark.skipif(not SYSTEM_BINDIRS, reason="no system PostgreSQL binaries installed")
def test_system_binaries_work_as_a_fallback(tmp_path: Path) -> None:
    """Where pgserver is missing, binaries from PATH or the OS package are used."""
    settings = Settings.from_env({"GALLERY_PG_BINDIR": str(SYSTEM_BINDIRS[-1])})
    server = EmbeddedPostgres(tmp_path / "fallback", settings=settings)
    assert server.binaries.origin == "GALLERY_PG_BINDIR"
    try:
        url = server.start()
        version = subprocess.run(
            [
                str(SYSTEM_BINDIRS[-1] / "psql"),
                url.replace("+asyncpg", ""),
                "-Atc",
                "SHOW server_version",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert version.split(".")[0] == SYSTEM_BINDIRS[-1].parent.name
    finally:
        assert server.stop()


def test_missing_postgres_gives_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr(Path, "glob", lambda self, pattern: iter(()))
    with pytest.raises(EmbeddedServerError) as caught:
        find_postgres_binaries()
    message = str(caught.value)
    assert "pgserver" in message
    assert "GALLERY_DATABASE_URL" in message
    assert "apt-get install postgresql" in message


def test_bindir_without_pg_ctl_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedServerError, match="holds no pg_ctl"):
        find_postgres_binaries(tmp_path)
