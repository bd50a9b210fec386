"""The ``gallery-analytics`` command line, without a database: help, usage errors, exit
codes and the one-line error contract. (Commands that reach a database are covered by
the integration suites through ``run_cli``.)"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from gallery_analytics import cli
from gallery_analytics.cli import app, main

SECRET = f"Pw{secrets.token_hex(8)}"


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No GALLERY_* setting from this process, and no .env: a directory of our own."""
    for name in [name for name in os.environ if name.startswith("GALLERY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GALLERY_EMBEDDED_DIR", str(tmp_path / "embedded"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _commands(
    command: Any = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group of the CLI with its path, the root included."""
    command = command if command is not None else typer.main.get_command(app)
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMAND_PATHS = [path for path, _ in _commands()]


def test_the_cli_has_every_command() -> None:
    assert set(COMMAND_PATHS) == {
        (),
        ("db",),
        *[("db", action) for action in ("start", "stop", "status", "url", "init", "upgrade")],
        ("seed",),
        ("summary",),
        ("report",),
        ("import",),
        ("extract",),
        ("notebooks",),
        ("demo",),
        ("dashboard",),
        ("serve",),
        ("api-token",),
        *[("api-token", action) for action in ("create", "revoke", "list")],
    }


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "(root)")
def test_help_on_every_command(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    shown = capsys.readouterr()
    assert shown.out.startswith(f"Usage: {' '.join(('gallery-analytics', *path))} ")
    assert shown.err == ""
    assert main([*path, "-h"]) == 0


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "(root)")
def test_every_command_and_option_has_help_text(path: tuple[str, ...]) -> None:
    command = dict(_commands())[path]
    assert (command.help or "").strip(), f"{path} has no help"
    for parameter in command.params:
        assert (getattr(parameter, "help", None) or "").strip(), f"{path} {parameter.name}"


USAGE_ERRORS = [
    pytest.param([], id="no-command"),
    pytest.param(["bogus"], id="unknown-command"),
    pytest.param(["db"], id="db-without-action"),
    pytest.param(["db", "restart"], id="db-unknown-action"),
    pytest.param(["seed", "--bogus"], id="unknown-option"),
    pytest.param(["seed", "--seed", "-1"], id="negative-seed"),
    pytest.param(["seed", "--seed", str(2**63)], id="seed-past-int64"),
    pytest.param(["seed", "--seed", "1.5"], id="fractional-seed"),
    pytest.param(["seed", "--size", "huge"], id="unknown-size"),
    pytest.param(["demo", "--size", "huge"], id="demo-unknown-size"),
    pytest.param(["summary", "--on", "2025-13-01"], id="month-13"),
    pytest.param(["summary", "--on", "2024-01-01T00:00:00"], id="datetime-for-date"),
    pytest.param(["report", "--param"], id="option-without-value"),
    pytest.param(["import", "--artists", "a.csv"], id="missing-required-option"),
    pytest.param(["notebooks", "--all"], id="notebooks-unknown-option"),
]


@pytest.mark.parametrize("argv", USAGE_ERRORS)
def test_usage_errors_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    shown = capsys.readouterr()
    assert shown.out == ""
    lines = shown.err.splitlines()
    assert len(lines) == 1, shown.err
    assert lines[0].startswith("error: ")
    assert "--help" in lines[0]  # where to read more


def test_a_bad_option_value_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", "--seed", "-1"]) == 2
    assert capsys.readouterr().err.startswith("error: Invalid value for '--seed': ")


def _parse(argv: list[str]) -> dict[str, Any]:
    """Parse ``argv`` with the real CLI without running the command."""
    command = typer.main.get_command(app).commands[argv[0]]  # type: ignore[attr-defined]
    with command.make_context(argv[0], argv[1:]) as context:
        return dict(context.params)


@pytest.mark.parametrize(
    "argv",
    [
        ["seed", "--no-progress"],
        ["report", "--no-progress"],
        ["import", "--artists", "a.csv", "--artworks", "w.csv", "--no-progress"],
    ],
    ids=lambda argv: argv[0],
)
def test_no_progress_is_accepted_where_there_is_a_progress_bar(argv: list[str]) -> None:
    assert _parse(argv)["no_progress"] is True
    assert _parse([arg for arg in argv if arg != "--no-progress"])["no_progress"] is False


def test_no_progress_is_one_declaration() -> None:
    options = {
        name: next(p for p in command.params if p.name == "no_progress")
        for name, command in typer.main.get_command(app).commands.items()  # type: ignore[attr-defined]
        if any(p.name == "no_progress" for p in command.params)
    }
    assert set(options) == {"seed", "report", "import", "extract"}
    assert len({(tuple(o.opts), o.help) for o in options.values()}) == 1


def test_options_keep_their_defaults() -> None:
    assert _parse(["seed"]) == {"size": "small", "seed": 42, "no_progress": False}
    assert _parse(["summary"]) == {"on": None}  # the CLI falls back in one place
    parsed = _parse(["report", "--param", "start=2024-01-01", "--param", "medium=Print"])
    assert parsed["param"] == ["start=2024-01-01", "medium=Print"]
    assert parsed["out"] is None
    assert _parse(["notebooks", "01-quickstart", "02-x"])["names"] == ["01-quickstart", "02-x"]


def test_report_help_lists_every_report_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    reports = pytest.importorskip("gallery_analytics.reports")
    assert main(["report", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    for name in reports.PARAMETERS:
        assert name in shown


# -- exit codes of the library's errors ---------------------------------------------------------


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


def test_a_configuration_error_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GALLERY_POOL_SIZE", "0")
    assert main(["db", "status"]) == 2
    assert _one_error_line(capsys.readouterr().err) == (
        "error: GALLERY_POOL_SIZE must be at least 1, got '0'"
    )


def test_a_configuration_error_in_dotenv_never_shows_the_password(
    clean_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean_environment / ".env").write_text(
        f"GALLERY_DATABASE_URL=postgresql://analyst:{SECRET}@h:port/gallery\n", encoding="utf-8"
    )
    assert main(["db", "url"]) == 2
    shown = capsys.readouterr()
    line = _one_error_line(shown.err)
    assert "GALLERY_DATABASE_URL" in line
    assert SECRET not in shown.out + shown.err


def test_db_url_reads_the_dotenv_file_and_masks_it(
    clean_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean_environment / ".env").write_text(
        f"GALLERY_DATABASE_URL=postgresql://analyst:{SECRET}@db.example/gallery\n",
        encoding="utf-8",
    )
    assert main(["db", "url"]) == 0
    shown = capsys.readouterr()
    assert shown.out.strip() == "postgresql+asyncpg://analyst:***@db.example/gallery"
    assert SECRET not in shown.out + shown.err


def test_a_validation_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gallery_analytics.notebooks")
    assert main(["notebooks", "no-such-notebook"]) == 2
    assert _one_error_line(capsys.readouterr().err).startswith("error: notebook: ")


def test_an_unreachable_database_exits_1_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GALLERY_DATABASE_URL", f"postgresql://analyst:{SECRET}@127.0.0.1:1/gallery")
    assert main(["summary"]) == 1
    shown = capsys.readouterr()
    _one_error_line(shown.err)
    assert SECRET not in shown.out + shown.err


def test_an_interrupt_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "connect", interrupted)
    assert main(["summary"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_log_records_are_one_line_sentences(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "url", "--help"]) == 0
    capsys.readouterr()
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logging.getLogger("gallery_analytics.test").warning("the pool is slow", exc_info=True)
    logging.getLogger("asyncio").warning("socket.send() raised exception.")
    assert capsys.readouterr().err == "warning: the pool is slow\n"
