"""Settings from the environment, in one object.

Nothing here connects to anything: reading settings is pure, so importing the
package never touches a database or an event loop.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from gallery_analytics.errors import ConfigurationError

DATABASE_URL_ENV = "GALLERY_DATABASE_URL"
READ_DATABASE_URL_ENV = "GALLERY_READ_DATABASE_URL"
ADMIN_DATABASE_URL_ENV = "GALLERY_ADMIN_DATABASE_URL"
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
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ConfigurationError(f"{setting} has port {url.port}; expected a port from 1 to 65535")
    backend = url.get_backend_name()
    if backend not in _POSTGRES_SCHEMES:
        raise ConfigurationError(
            f"{setting} must point at PostgreSQL (postgresql://...), got a {backend!r} URL"
        )
    return url.set(drivername="postgresql+asyncpg")


# Query parameters that carry a credential, whatever their case. libpq reads
# ``password`` and ``sslpassword``; asyncpg and other drivers accept a few more spellings.
# ``passfile`` and ``sslkey``/``sslcert`` are paths, fine to show.
_SECRET_QUERY_KEYS = frozenset({"password", "sslpassword", "pass", "passwd", "pwd"})
_SECRET_QUERY_MARKERS = ("password", "secret", "token")
MASK = "***"


def is_secret_query_key(key: str) -> bool:
    """Whether a URL query parameter named ``key`` holds a credential."""
    folded = key.strip().casefold()
    return folded in _SECRET_QUERY_KEYS or any(marker in folded for marker in _SECRET_QUERY_MARKERS)


def mask_url(url: URL | str) -> str:
    """Render a URL with every credential replaced by ``***`` (safe for logs and output).

    Masks the userinfo password and any credential query parameter (``?password=``,
    ``?sslpassword=``, any case). A string that does not parse is not echoed at all:
    it may hold a password in a shape we cannot see.
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):
        return "<unparseable database URL, hidden>"
    secret_keys = [key for key in parsed.query if is_secret_query_key(key)]
    if not secret_keys:
        return parsed.render_as_string(hide_password=True)
    # Render a URL-safe placeholder, then show it as *** (rendering would encode "*").
    placeholder = "GALLERYMASKED" + "0" * 8
    parsed = parsed.update_query_dict(dict.fromkeys(secret_keys, placeholder))
    return parsed.render_as_string(hide_password=True).replace(placeholder, MASK)


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
    # The schema owner, for migrations and demo reloads (default: database_url).
    admin_database_url: URL | None = None
    # None means default_embedded_dir(), resolved when the server is used (it touches
    # the filesystem, so not while building settings inside async code).
    embedded_dir: Path | None = None
    statement_timeout_seconds: float = 30.0
    pool: PoolSettings = field(default_factory=PoolSettings)
    # The workbench's "today" (GALLERY_TODAY). None: the dataset's own reference date
    # when it has one (the demo records its fixed date), else the calendar
    # (see Database.today()).
    today: dt.date | None = None

    @property
    def schema_owner_url(self) -> URL | None:
        """Who runs migrations and demo reloads on a configured server: the admin URL,
        else the primary; None means the embedded server (its owner role)."""
        return self.admin_database_url or self.database_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        primary = env.get(DATABASE_URL_ENV, "").strip()
        replica = env.get(READ_DATABASE_URL_ENV, "").strip()
        admin = env.get(ADMIN_DATABASE_URL_ENV, "").strip()
        for dependent, name in ((replica, READ_DATABASE_URL_ENV), (admin, ADMIN_DATABASE_URL_ENV)):
            if dependent and not primary:
                raise ConfigurationError(
                    f"{name} is set but {DATABASE_URL_ENV} is not; "
                    "writes need a primary database URL"
                )
        timeout = _positive_float(env, "GALLERY_STATEMENT_TIMEOUT_SECONDS", 30.0)
        pool = PoolSettings(
            size=_positive_int(env, "GALLERY_POOL_SIZE", 10),
            max_overflow=_non_negative_int(env, "GALLERY_POOL_MAX_OVERFLOW", 0),
            timeout_seconds=_positive_float(env, "GALLERY_POOL_TIMEOUT_SECONDS", 30.0),
        )
        embedded = env.get(EMBEDDED_DIR_ENV)
        today_text = env.get("GALLERY_TODAY", "").strip()
        try:
            today = dt.date.fromisoformat(today_text) if today_text else None
        except ValueError:
            raise ConfigurationError(
                f"GALLERY_TODAY must be a date as YYYY-MM-DD, got {today_text!r}"
            ) from None
        return cls(
            database_url=normalise_url(primary) if primary else None,
            admin_database_url=(
                normalise_url(admin, setting=ADMIN_DATABASE_URL_ENV) if admin else None
            ),
            read_database_url=(
                normalise_url(replica, setting=READ_DATABASE_URL_ENV) if replica else None
            ),
            embedded_dir=Path(embedded).expanduser() if embedded else None,
            statement_timeout_seconds=timeout,
            pool=pool,
            today=today,
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
