"""API tokens beyond the basics of test_tokens.py: concurrent creates of one name, a
replaced name, any object sent to verify, and the ``api-token`` commands as an operator
runs them (one token line on stdout that verifies, revocation, errors as one line)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from gallery_analytics.db.database import Database
from gallery_analytics.errors import ValidationError
from gallery_analytics.services.tokens import ApiToken, ApiTokenService, Scope
from tests.conftest import run_cli

TOKEN_LINE = re.compile(r"gat_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}\n")


async def _verify(db: Database, token: object) -> ApiToken | None:
    async with db.read_session() as session:
        return await ApiTokenService(db).verify(token, session)  # type: ignore[arg-type]


async def test_concurrent_creates_of_one_name_give_one_token(fresh_db: Database) -> None:
    """Without one deciding statement, the losers' unique-key errors escape as constraint
    violations instead of the name being in use."""
    tokens = ApiTokenService(fresh_db)
    outcomes = await asyncio.gather(
        *(tokens.create("shared", ["read"]) for _ in range(8)), return_exceptions=True
    )
    made = [outcome for outcome in outcomes if isinstance(outcome, str)]
    refused = [outcome for outcome in outcomes if not isinstance(outcome, str)]
    assert len(made) == 1
    assert all(isinstance(error, ValidationError) for error in refused), refused
    assert {error.field for error in refused if isinstance(error, ValidationError)} == {"name"}
    assert await _verify(fresh_db, made[0]) is not None


async def test_a_replaced_name_is_a_new_active_token(fresh_db: Database) -> None:
    tokens = ApiTokenService(fresh_db)
    old = await tokens.create("ci", ["read", "write"])
    await tokens.revoke("ci")
    [revoked] = await tokens.list()
    assert revoked.revoked_at is not None
    new = await tokens.create("ci", "import")  # one scope given as a plain string
    [listed] = await tokens.list()
    assert listed.revoked_at is None
    assert listed.scopes == {Scope.IMPORT}
    assert listed.created_at >= revoked.created_at
    assert await _verify(fresh_db, old) is None
    found = await _verify(fresh_db, new)
    assert found is not None
    assert found.scopes == {Scope.IMPORT}


@pytest.mark.parametrize("sent", [None, 42, b"gat_x", ["gat"], "", "Bearer gat_", "\x00"])
async def test_verify_refuses_whatever_it_is_given(seeded_db: Database, sent: object) -> None:
    assert await _verify(seeded_db, sent) is None


# -- the api-token commands ---------------------------------------------------------------


def _operator(db: Database, tmp_path: Path, *args: str, owner: bool = True) -> tuple[int, str, str]:
    """``gallery-analytics`` configured as a deployment: writer, reader and (``owner``)
    the schema owner; the result's exit code, stdout and stderr."""
    env = {"GALLERY_EMBEDDED_DIR": str(tmp_path / "no-embedded")}
    if owner:
        env["GALLERY_ADMIN_DATABASE_URL"] = db.admin_url.render_as_string(hide_password=False)
    done = run_cli(*args, database_url=db.url, cwd=tmp_path, env=env, timeout=120)
    return done.returncode, done.stdout, done.stderr


async def test_the_commands_create_list_and_revoke(fresh_db: Database, tmp_path: Path) -> None:
    code, out, err = await asyncio.to_thread(
        _operator, fresh_db, tmp_path, "api-token", "create", "ci", "--scope", "read",
        "--scope", "IMPORT",
    )  # fmt: skip
    assert code == 0, err
    assert TOKEN_LINE.fullmatch(out), out  # `TOKEN=$(gallery-analytics api-token create ...)`
    token = out.strip()
    assert "shown only now" in err
    assert token not in err
    found = await _verify(fresh_db, token)
    assert found is not None
    assert found.scopes == {Scope.READ, Scope.IMPORT}

    code, out, err = await asyncio.to_thread(_operator, fresh_db, tmp_path, "api-token", "list")
    assert code == 0, err
    [line] = out.splitlines()
    assert line.startswith("ci\timport,read\tcreated ")
    assert line.endswith("\tactive")
    secret = token.rsplit("_", 1)[1]
    assert secret not in out + err

    code, out, err = await asyncio.to_thread(
        _operator, fresh_db, tmp_path, "api-token", "create", "ci", "--scope", "write"
    )
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert "'ci' exists" in err

    code, _, err = await asyncio.to_thread(
        _operator, fresh_db, tmp_path, "api-token", "revoke", "ci"
    )
    assert code == 0, err
    assert await _verify(fresh_db, token) is None
    code, out, _ = await asyncio.to_thread(_operator, fresh_db, tmp_path, "api-token", "list")
    assert "\trevoked " in out

    code, out, err = await asyncio.to_thread(
        _operator, fresh_db, tmp_path, "api-token", "revoke", "ci"
    )
    assert code != 0
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert "'ci'" in err


@pytest.mark.parametrize(
    "args",
    [
        ("create", "ci", "--scope", "admin"),
        ("create", "ci"),
        ("create", "has space", "--scope", "read"),
    ],
)
async def test_bad_command_lines_are_one_line_and_store_nothing(
    fresh_db: Database, tmp_path: Path, args: tuple[str, ...]
) -> None:
    code, out, err = await asyncio.to_thread(_operator, fresh_db, tmp_path, "api-token", *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert await ApiTokenService(fresh_db).list() == []


async def test_creating_as_the_writer_is_refused_and_names_the_owner_setting(
    fresh_db: Database, tmp_path: Path
) -> None:
    """Configured with only the application's roles, the command cannot mint a token: the
    writer may not write the table, and the message says which setting is missing."""
    code, out, err = await asyncio.to_thread(
        _operator, fresh_db, tmp_path, "api-token", "create", "ci", "--scope", "read",
        owner=False,
    )  # fmt: skip
    assert code != 0
    assert out == ""
    assert err.count("\n") == 1, err
    assert "GALLERY_ADMIN_DATABASE_URL" in err
    assert await ApiTokenService(fresh_db).list() == []
