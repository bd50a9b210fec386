"""Settings from the environment, in one object.

Nothing here connects to anything: reading settings is pure, so importing the
package never touches a database or an event loop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from gallery_analytics.errors import ConfigurationError

DATABASE_URL_ENV = "GALLERY_DATABASE_URL"
READ_DATABASE_URL_ENV = "GALLERY_READ_DATABASE_URL"
EMBEDDED_DIR_ENV = "GALLERY_EMBEDDED_DIR"

_POSTGRES_SCHEMES = {"postgres", "postgresql"}


def normalise_url(raw: str | URL, *, setting: str = DATABASE_URL_ENV) -> URL:
    """Parse a PostgreSQL URL and force the asyncpg driver.

    Accepts ``postgres://``, ``postgresql://`` and ``postgresql+<any driver>://`` so that
    URLs copied from other tools (psql, Heroku, psycopg) work unchanged.
    """
    if isinstance(raw, URL):
        url = raw
    else:
        try:
            url = make_url(raw.strip())
        except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
            raise ConfigurationError(
                f"{setting} is not a database URL; "
                "expected postgresql://user:password@host:port/dbname"
            ) from None
    backend = url.get_backend_name()
    if backend not in _POSTGRES_SCHEMES:
        raise ConfigurationError(
            f"{setting} must point at PostgreSQL (postgresql://...), got a {backend!r} URL"
        )
    return url.set(drivername="postgresql+asyncpg")


def mask_url(url: URL | str) -> str:
    """Render a URL with any password replaced by ``***`` (safe for logs and output)."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def default_embedded_dir() -> Path:
    """Where the embedded server keeps its data: project-local and git-ignored.

    In a source checkout (the editable install) that is ``<project>/.gallery``; for an
    installed package it is ``./.gallery`` under the current directory.
    """
    configured = os.environ.get(EMBEDDED_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    project_root = Path(__file__).resolve().parent.parent
    if (project_root / "pyproject.toml").is_file():
        return project_root / ".gallery"
    return Path.cwd() / ".gallery"


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Connection-pool bounds shared by the read and write engines."""

    size: int = 10
    max_overflow: int = 0
    timeout_seconds: float = 30.0
    recycle_seconds: float = 1800.0
    pre_ping: bool = True


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the package reads from the environment."""

    database_url: URL | None = None
    read_database_url: URL | None = None
    # None means default_embedded_dir(), resolved when the server is used (it touches
    # the filesystem, so not while building settings inside async code).
    embedded_dir: Path | None = None
    statement_timeout_seconds: float = 30.0
    pool: PoolSettings = field(default_factory=PoolSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        primary = env.get(DATABASE_URL_ENV, "").strip()
        replica = env.get(READ_DATABASE_URL_ENV, "").strip()
        if replica and not primary:
            raise ConfigurationError(
                f"{READ_DATABASE_URL_ENV} is set but {DATABASE_URL_ENV} is not; "
                "writes need a primary database URL"
            )
        timeout = _positive_float(env, "GALLERY_STATEMENT_TIMEOUT_SECONDS", 30.0)
        pool = PoolSettings(
            size=_positive_int(env, "GALLERY_POOL_SIZE", 10),
            max_overflow=_non_negative_int(env, "GALLERY_POOL_MAX_OVERFLOW", 0),
            timeout_seconds=_positive_float(env, "GALLERY_POOL_TIMEOUT_SECONDS", 30.0),
        )
        embedded = env.get(EMBEDDED_DIR_ENV)
        return cls(
            database_url=normalise_url(primary) if primary else None,
            read_database_url=(
                normalise_url(replica, setting=READ_DATABASE_URL_ENV) if replica else None
            ),
            embedded_dir=Path(embedded).expanduser() if embedded else None,
            statement_timeout_seconds=timeout,
            pool=pool,
        )


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ConfigurationError(f"{name} must be greater than 0, got {raw!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _non_negative_int(env, name, default)
    if value == 0:
        raise ConfigurationError(f"{name} must be at least 1")
    return value


def _non_negative_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, got {raw!r}")
    return value
