"""Importing the package must not create engines, loops, connections or directories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import asyncio, gc, sys
import gallery_analytics
from gallery_analytics import cli, services, repositories
from sqlalchemy.ext.asyncio import AsyncEngine
engines = [o for o in gc.get_objects() if isinstance(o, AsyncEngine)]
loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]
print(len(engines), len(loops), "asyncpg.connection" in sys.modules)
"""


def test_import_creates_no_engine_loop_or_directory(tmp_path: Path) -> None:
    target = tmp_path / "never-created"
    env = {**os.environ, "GALLERY_EMBEDDED_DIR": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    engines, loops, _ = result.stdout.split()
    assert (engines, loops) == ("0", "0")
    assert not target.exists()
