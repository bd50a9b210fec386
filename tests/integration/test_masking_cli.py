"""The CLI never prints a password given as a URL query parameter (issue 10 #9).

``postgresql://analyst@host/db?password=...`` authenticates just like the userinfo form;
every command that shows the URL, or fails to reach it, must mask it. No server is
needed: the URLs point at a closed port.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.conftest import run_cli

SECRET = f"Qp{secrets.token_hex(8)}"
URLS = [
    f"postgresql://analyst@127.0.0.1:1/gallery?password={SECRET}",
    f"postgresql://analyst@127.0.0.1:1/gallery?PASSWORD={SECRET}&sslmode=disable",
    f"postgresql://analyst@127.0.0.1:1/gallery?sslpassword={SECRET}",
    f"postgresql://analyst:{SECRET}@127.0.0.1:1/gallery?password={SECRET}",
    f"postgresql://analyst:{SECRET}@127.0.0.1:99999/gallery",
    f"postgresql://analyst:{SECRET}@127.0.0.1:port/gallery",
]
COMMANDS = [
    (["db", "url"], 0),
    (["db", "status"], 0),
    (["summary"], 1),
    (["report", "--no-progress"], 1),
    (["notebooks", "01-quickstart"], 1),
]


@pytest.mark.parametrize("url", URLS, ids=lambda u: u.split("@")[1][:40])
@pytest.mark.parametrize(
    ("command", "code"), COMMANDS, ids=lambda c: " ".join(c) if isinstance(c, list) else str(c)
)
def test_no_command_prints_the_password(
    tmp_path: Path, url: str, command: list[str], code: int
) -> None:
    extra = ["--out", str(tmp_path / "r.html")] if command[0] == "report" else []
    result = run_cli(
        *command,
        *extra,
        cwd=tmp_path,
        env={"GALLERY_DATABASE_URL": url, "GALLERY_EMBEDDED_DIR": str(tmp_path / "embedded")},
        timeout=120,
    )
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    bad_url = ":99999/" in url or ":port/" in url
    if bad_url:  # a URL that cannot be used at all: a configuration error, one line
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("error: ") == 1, result.stderr
    elif code == 0:
        assert result.returncode == 0, result.stderr
        assert "***" in result.stdout
    else:
        assert result.returncode == 1, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.stderr
