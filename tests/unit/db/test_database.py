"""The Database object's checks that need no server: bad arguments, the URL's scheme,
the password kept out of its repr, and sessions outside an event loop. The URLs point
at no server (port 1), so none of these can connect."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gallery_analytics import Database, connect, run_sync
from gallery_analytics.errors import ConfigurationError, EventLoopMismatchError, ValidationError

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nowhere"


async def _count_users(db: Database) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(text("SELECT count(*) FROM users")) or 0)


def test_run_sync_rejects_what_is_not_a_coroutine() -> None:
    with pytest.raises(ValidationError, match=r"^coroutine: "):
        run_sync(_count_users)  # type: ignore[arg-type]


def test_sessions_outside_an_event_loop_raise_a_clear_error() -> None:
    """Raised before any engine exists: a plain script gets the hint, not a driver error."""
    db = Database(UNREACHABLE)
    session_cm = db.read_session()
    with pytest.raises(EventLoopMismatchError, match="async"):
        session_cm.__aenter__().send(None)
    assert not db._per_loop  # no engine was created


async def test_connect_rejects_a_non_postgres_url() -> None:
    with pytest.raises(ConfigurationError, match="must point at PostgreSQL"):
        await connect("mysql://user:secret@localhost/db")


def test_repr_masks_the_password() -> None:
    db = Database("postgresql://analyst:s3cret-pw@db.example.org:5432/gallery")
    assert "s3cret-pw" not in repr(db)
    assert "***" in repr(db)
