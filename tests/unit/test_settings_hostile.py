"""Settings under hostile input: dumps that would print passwords, timeouts PostgreSQL
cannot take, broken or odd ``.env`` files, an embedded directory that is a file, a
password with a bare ``@``, dates in other ISO forms, and usage messages that point at
the wrong help. Each case must be one line (a ConfigurationError, exit 2), never a
traceback, a hang, or a silently dropped setting."""

from __future__ import annotations

import builtins
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from gallery_analytics import config
from gallery_analytics.cli import main
from gallery_analytics.config import Settings, normalise_url, read_env_file
from gallery_analytics.errors import ConfigurationError

SECRET = f"Pw{secrets.token_hex(8)}"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No GALLERY_* setting from this process, our own directory, our own embedded dir."""
    for name in [name for name in os.environ if name.upper().startswith("GALLERY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GALLERY_EMBEDDED_DIR", str(tmp_path / "embedded"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


# -- 1: dumps mask every credential ---------------------------------------------------------


def test_model_dump_masks_passwords_and_as_environment_keeps_them() -> None:
    url = f"postgresql://bob:{SECRET}@db.example/gallery?sslpassword={SECRET}x"
    settings = Settings(
        database_url=url,
        read_database_url=f"postgresql://reader:{SECRET}@replica/gallery",
        admin_database_url=f"postgresql://owner:{SECRET}@db.example/gallery",
    )
    for dump in (str(settings.model_dump()), settings.model_dump_json(), repr(settings)):
        assert SECRET not in dump
        assert "bob:***@db.example" in dump
    assert settings.model_dump()["database_url"].endswith("?sslpassword=***")
    environment = settings.as_environment()
    assert SECRET in environment["GALLERY_DATABASE_URL"]
    assert Settings.from_env(environment) == settings
    child = config.process_environment(settings, base={})
    assert f"reader:{SECRET}@" in child["GALLERY_READ_DATABASE_URL"]


# -- 2: statement timeouts PostgreSQL takes -------------------------------------------------


@pytest.mark.parametrize("value", ["2147484", "1e9", "0.0005"])
def test_a_statement_timeout_postgresql_cannot_take_is_a_configuration_error(
    value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GALLERY_STATEMENT_TIMEOUT_SECONDS", value)
    with pytest.raises(ConfigurationError, match=r"^GALLERY_STATEMENT_TIMEOUT_SECONDS must be"):
        Settings.from_env()
    assert main(["db", "url"]) == 2
    assert "GALLERY_STATEMENT_TIMEOUT_SECONDS" in _one_error_line(capsys)


def test_the_largest_statement_timeout_fits_both_server_settings() -> None:
    """statement_timeout and idle_in_transaction_session_timeout (with the client's
    margin) are int32 milliseconds."""
    from gallery_analytics.db.sessions import CLIENT_TIMEOUT_MARGIN_SECONDS

    largest = config._PG_MAX_TIMEOUT_SECONDS - config._CLIENT_MARGIN_SECONDS
    assert Settings(statement_timeout_seconds=largest).statement_timeout_seconds == largest
    assert (largest + CLIENT_TIMEOUT_MARGIN_SECONDS) * 1000 <= 2**31 - 1
    assert Settings(statement_timeout_seconds=0.001).statement_timeout_seconds == 0.001


# -- 3: hostile .env files ------------------------------------------------------------------


def test_a_non_utf8_env_file_names_the_file_and_line(
    clean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean / ".env").write_bytes(b"GALLERY_POOL_SIZE=3\nGALLERY_TODAY=2025-01-0\xff\n")
    with pytest.raises(ConfigurationError, match=r"\.env, line 2: not UTF-8"):
        Settings.from_env()
    assert main(["db", "url"]) == 2
    _one_error_line(capsys)


def test_an_unreadable_env_file_is_one_line(
    clean: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PermissionError, simulated for every way of opening it (the tests may run as root)."""
    env_file = clean / ".env"
    env_file.write_text("GALLERY_POOL_SIZE=3\n", encoding="utf-8")
    real_open, real_os_open = builtins.open, os.open

    def refusing_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | Path) and Path(file) == env_file:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    def refusing_os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if Path(path) == env_file:
            raise PermissionError(13, "Permission denied", str(path))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    monkeypatch.setattr(os, "open", refusing_os_open)
    with pytest.raises(ConfigurationError, match=r"cannot read .*\.env: Permission denied"):
        Settings.from_env()
    assert main(["db", "url"]) == 2
    _one_error_line(capsys)


def _cli(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("GALLERY_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    environment |= extra
    return subprocess.run(
        [sys.executable, "-m", "gallery_analytics.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_fifo_named_env_is_refused_not_read(clean: Path) -> None:
    os.mkfifo(clean / ".env")
    done = _cli(clean, "db", "url", GALLERY_EMBEDDED_DIR=str(clean / "embedded"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"error: {clean / '.env'} is not a regular file; settings are read from a file"
    ]
    with pytest.raises(ConfigurationError, match="not a regular file"):
        read_env_file(clean / ".env")  # opened without blocking, then refused


def test_an_unclosed_quote_is_an_error_not_a_dropped_setting(
    clean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean / ".env").write_text(
        f"GALLERY_POOL_SIZE=3\nGALLERY_DATABASE_URL='postgresql://bob:{SECRET}@h/x\n",
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigurationError, match=r"\.env, line 2: GALLERY_DATABASE_URL has an unclosed quote"
    ):
        Settings.from_env()
    assert main(["seed"]) == 2
    line = _one_error_line(capsys)
    assert SECRET not in line


@pytest.mark.parametrize("text", ["GALLERY_POOL_SIZE\n", "GALLERY POOL=3\n", "='x'\n"])
def test_a_line_that_is_not_name_equals_value_is_an_error(clean: Path, text: str) -> None:
    (clean / ".env").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"\.env, line 1: expected NAME=value"):
        Settings.from_env()


def test_env_values_are_literal_and_quotes_comments_export_work(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME_PASSWORD", "expanded")
    (clean / ".env").write_text(
        "# a comment\n"
        "\n"
        "export GALLERY_DATABASE_URL=postgresql://bob:a${HOME_PASSWORD}b@h/x  # the primary\n"
        "GALLERY_READ_DATABASE_URL='postgresql://r:$x#y@h/x' # single quotes: literal\n"
        'GALLERY_PG_SYSTEM_USER="pg \\"user\\"" \n'
        "OTHER_NAME = 1\n",
        encoding="utf-8",
    )
    variables = read_env_file(clean / ".env")
    assert variables == {
        "GALLERY_DATABASE_URL": "postgresql://bob:a${HOME_PASSWORD}b@h/x",
        "GALLERY_READ_DATABASE_URL": "postgresql://r:$x#y@h/x",
        "GALLERY_PG_SYSTEM_USER": 'pg "user"',
        "OTHER_NAME": "1",
    }
    settings = Settings.from_env()
    assert settings.database_url is not None
    assert settings.database_url.password == "a${HOME_PASSWORD}b"


# -- 4: GALLERY_EMBEDDED_DIR that is not a directory ----------------------------------------


@pytest.mark.parametrize("where", ["/dev/null", "/etc/passwd", "/etc/passwd/below"])
@pytest.mark.parametrize("command", [["db", "url"], ["db", "status"], ["db", "stop"]])
def test_an_embedded_dir_that_is_a_file_is_one_line(
    where: str,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GALLERY_EMBEDDED_DIR", where)
    assert main(command) == 2
    assert "is not a directory" in _one_error_line(capsys)


@pytest.mark.parametrize("command", [["db", "stop"], ["db", "status"]])
def test_stop_and_status_create_nothing(
    clean: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert not (clean / "embedded").exists()
    assert main(command) == 0, capsys.readouterr().err
    assert not (clean / "embedded").exists()


# -- 5: a password with a bare @ ------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["postgresql://bob:p@ss@127.0.0.1:1/x", "postgresql://bob@x:p@ss@127.0.0.1/x"]
)
def test_an_unencoded_at_in_the_password_is_refused_without_echo(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="%40") as caught:
        normalise_url(url)
    assert "ss@" not in str(caught.value)
    assert "127.0.0.1" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="%40"):
        normalise_url(make_url(url))
    monkeypatch.setenv("GALLERY_DATABASE_URL", url)
    assert main(["db", "url"]) == 2
    line = _one_error_line(capsys)
    assert "GALLERY_DATABASE_URL" in line
    assert "ss" not in line.replace("password", "")
    assert normalise_url("postgresql://bob:p%40ss@127.0.0.1:1/x").password == "p@ss"


# -- 6: dates exactly YYYY-MM-DD ------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["20250101", "2025-W01-1", "2025-001", "\uff12\uff10\uff12\uff15-01-01"]
)
def test_only_yyyy_mm_dd_is_a_date(
    value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="GALLERY_TODAY must be a date as YYYY-MM-DD"):
        Settings(today=value)
    assert main(["summary", "--on", value]) == 2
    assert "YYYY-MM-DD" in _one_error_line(capsys)
    assert str(Settings(today=" 2025-01-01 ").today) == "2025-01-01"


# -- 7: usage messages ----------------------------------------------------------------------


def test_a_missing_option_value_points_at_the_commands_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["summary", "--on"]) == 2
    assert _one_error_line(capsys).endswith("(see 'gallery-analytics summary --help')")
    assert main(["db", "status", "--bogus"]) == 2
    assert _one_error_line(capsys).endswith("(see 'gallery-analytics db status --help')")


def test_importing_a_directory_says_it_is_a_directory(
    clean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean / "artworks.csv").write_text("id\n", encoding="utf-8")
    assert main(["import", "--artists", str(clean), "--artworks", "artworks.csv"]) == 2
    assert "is a directory" in _one_error_line(capsys)
