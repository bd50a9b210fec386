"""Settings from the environment, in one object.

One pydantic-settings class holds every ``GALLERY_*`` variable: pydantic types do the
validation (numbers, dates, paths), a validator normalises database URLs, and every
problem surfaces as the project's :class:`ConfigurationError`, one line naming the
variable. A database URL is never echoed in an error: it may carry a password.

Nothing here connects to anything: reading settings is pure, so importing the
package never touches a database or an event loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from gallery_analytics.errors import ConfigurationError

ENV_PREFIX = "GALLERY_"
DATABASE_URL_ENV = "GALLERY_DATABASE_URL"
READ_DATABASE_URL_ENV = "GALLERY_READ_DATABASE_URL"
ADMIN_DATABASE_URL_ENV = "GALLERY_ADMIN_DATABASE_URL"
EMBEDDED_DIR_ENV = "GALLERY_EMBEDDED_DIR"
ENV_FILE = ".env"

_POSTGRES_SCHEMES = {"postgres", "postgresql"}


def normalise_url(raw: str | URL, *, setting: str = DATABASE_URL_ENV) -> URL:
    """Parse a PostgreSQL URL and force the asyncpg driver.

    Accepts ``postgres://``, ``postgresql://`` and ``postgresql+<any driver>://`` so that
    URLs copied from other tools (psql, Heroku, psycopg) work unchanged. Errors name
    ``setting`` and never repeat the URL (it may hold a password).
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
    """Where the embedded server keeps its data: ``GALLERY_EMBEDDED_DIR`` if set, else
    project-local and git-ignored.

    In a source checkout (the editable install) that is ``<project>/.gallery``; for an
    installed package it is ``./.gallery`` under the current directory.
    """
    configured = Settings.from_env().embedded_dir
    if configured is not None:
        return configured
    project_root = Path(__file__).resolve().parent.parent
    if (project_root / "pyproject.toml").is_file():
        return project_root / ".gallery"
    return Path.cwd() / ".gallery"


# -- validation errors -> one ConfigurationError line ------------------------------------------

# Custom pydantic error types raised by the validators below: a reason to follow the
# variable's name, or a message that is already complete (it names its variables).
_REASON = "gallery_reason"
_MESSAGE = "gallery_message"
_SHOWN_LIMIT = 60


def _reason(text: str) -> PydanticCustomError:
    return PydanticCustomError(_REASON, "{reason}", {"reason": text})


def _complete(text: str) -> PydanticCustomError:
    return PydanticCustomError(_MESSAGE, "{message}", {"message": text})


def _env_name(prefix: str, loc: tuple[int | str, ...]) -> str:
    return prefix + "_".join(str(part) for part in loc).upper()


def _number(bound: object) -> str:
    """``0`` rather than ``0.0`` for a bound that is a whole number."""
    if isinstance(bound, float) and bound.is_integer():
        return str(int(bound))
    return str(bound)


def _expected(error_type: str, context: Mapping[str, Any], name: str) -> str:
    """What a value of this setting should have been, from pydantic's error type."""
    if error_type.startswith("int_"):
        return "must be a whole number"
    if error_type.startswith("float_") or error_type == "finite_number":
        return "must be a number of seconds" if name.endswith("_SECONDS") else "must be a number"
    if error_type == "iso_date":
        return "must be a date as YYYY-MM-DD"
    if error_type.startswith("bool_"):
        return "must be true or false"
    if error_type == "greater_than":
        return f"must be greater than {_number(context['gt'])}"
    if error_type == "greater_than_equal":
        bound = _number(context["ge"])
        return "must not be negative" if bound == "0" else f"must be at least {bound}"
    if error_type in {"string_too_short", "missing"}:
        return "must not be empty"
    return "is not valid"


def _configuration_error(
    exc: pydantic.ValidationError, *, prefix: str, secret: frozenset[str]
) -> ConfigurationError:
    """The first problem as one line naming its variable. pydantic's own rendering
    repeats the input (``input_value=...``), so it is never used: a URL value is never
    shown, other values are shown cut short."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    name = _env_name(prefix, loc)
    context = error.get("ctx") or {}
    if error["type"] == _MESSAGE:
        return ConfigurationError(str(context["message"]))
    reason = (
        str(context["reason"])
        if error["type"] == _REASON
        else _expected(error["type"], context, name)
    )
    value = error.get("input")
    if (loc and loc[0] in secret) or not isinstance(value, str | int | float):
        return ConfigurationError(f"{name} {reason}")
    shown = repr(value)
    shown = shown if len(shown) <= _SHOWN_LIMIT else shown[: _SHOWN_LIMIT - 3] + "..."
    return ConfigurationError(f"{name} {reason}, got {shown}")


def _without_blanks(data: Any) -> Any:
    """An empty or blank value means "not set": the default applies, as before."""
    if isinstance(data, dict):
        return {
            key: value
            for key, value in data.items()
            if not (isinstance(value, str) and not value.strip())
        }
    return data


# -- the settings ------------------------------------------------------------------------------


def _iso_date(value: object) -> object:
    """A YYYY-MM-DD string as a date, as ``date.fromisoformat`` reads it: pydantic's own
    date parsing would also take a datetime at midnight or a Unix timestamp."""
    if not isinstance(value, str):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError(
            "iso_date", "expected a date as YYYY-MM-DD, got {shown}", {"shown": repr(value)}
        ) from None


# A date written YYYY-MM-DD: GALLERY_TODAY here, the CLI's --on.
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class PoolSettings(BaseModel):
    """Connection-pool bounds shared by the read and write engines
    (``GALLERY_POOL_SIZE``, ``GALLERY_POOL_MAX_OVERFLOW``, ``GALLERY_POOL_TIMEOUT_SECONDS``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    size: Annotated[int, Field(ge=1)] = 10
    max_overflow: NonNegativeInt = 0
    timeout_seconds: Seconds = 30.0
    recycle_seconds: Seconds = 1800.0
    pre_ping: bool = True

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except pydantic.ValidationError as exc:
            raise _configuration_error(exc, prefix="GALLERY_POOL_", secret=frozenset()) from None

    @model_validator(mode="before")
    @classmethod
    def _drop_blanks(cls, data: Any) -> Any:
        return _without_blanks(data)


DatabaseUrl = Annotated[URL | None, NoDecode]  # NoDecode: a URL is text, not JSON
_URL_FIELDS = frozenset({"database_url", "read_database_url", "admin_database_url"})


class Settings(BaseSettings):
    """Everything the package reads from the environment, immutable once built.

    ``Settings.from_env()`` reads the ``GALLERY_*`` variables, and a ``.env`` file in
    the current directory for those not set (the environment wins). ``Settings(...)``
    itself reads nothing: defaults plus the fields given, so settings built in code
    (tests, ``Database(url)``) never depend on the shell or a stray ``.env``.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # GALLERY_POOL_SIZE -> pool.size: split once, after the field's name.
        env_nested_delimiter="_",
        env_nested_max_split=1,
        # No env_file here: Settings(...) must never touch the filesystem (it is built
        # inside async code); from_env reads the .env file itself.
        env_file=None,
        env_file_encoding="utf-8",
        dotenv_filtering="only_existing",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        arbitrary_types_allowed=True,  # sqlalchemy's URL
    )

    database_url: DatabaseUrl = None
    read_database_url: DatabaseUrl = None
    # The schema owner, for migrations and demo reloads (default: database_url).
    admin_database_url: DatabaseUrl = None
    # None means default_embedded_dir(), resolved when the server is used (it touches
    # the filesystem, so not while building settings inside async code).
    embedded_dir: Path | None = None
    statement_timeout_seconds: Seconds = 30.0
    pool: PoolSettings = PoolSettings()
    # The workbench's "today" (GALLERY_TODAY). None: the dataset's own reference date
    # when it has one (the demo records its fixed date), else the calendar
    # (see Database.today()).
    today: IsoDate | None = None
    # The embedded server: PostgreSQL binaries to use (else pgserver, PATH, Debian's
    # directories), and the account it runs as when we are root.
    pg_bindir: Path | None = None
    pg_system_user: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = (
        "gallery-pg"
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except pydantic.ValidationError as exc:
            raise _configuration_error(exc, prefix=ENV_PREFIX, secret=_URL_FIELDS) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the arguments given: the environment is read by :meth:`from_env`."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The ``GALLERY_*`` settings of ``environ``; by default ``os.environ`` over a
        ``.env`` file in the current directory. Reading that file blocks: async code calls
        ``await asyncio.to_thread(Settings.from_env)``."""
        if environ is not None:
            return cls(**_MappingSource(cls, environ)())
        dotenv = DotEnvSettingsSource(cls, env_file=ENV_FILE)  # reads a file: off the loop
        return cls(**_layered(dotenv(), EnvSettingsSource(cls)()))

    @property
    def schema_owner_url(self) -> URL | None:
        """Who runs migrations and demo reloads on a configured server: the admin URL,
        else the primary; None means the embedded server (its owner role)."""
        return self.admin_database_url or self.database_url

    @model_validator(mode="before")
    @classmethod
    def _drop_blanks(cls, data: Any) -> Any:
        return _without_blanks(data)

    @field_validator(*_URL_FIELDS, mode="before")
    @classmethod
    def _normalise_url(cls, value: object, info: pydantic.ValidationInfo) -> object:
        if not isinstance(value, str | URL):
            return value  # None, or a type the field refuses by itself
        try:
            return normalise_url(value, setting=_env_name(ENV_PREFIX, (info.field_name or "",)))
        except ConfigurationError as exc:
            raise _complete(str(exc)) from None

    @field_validator("embedded_dir", "pg_bindir")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @model_validator(mode="after")
    def _primary_for_dependents(self) -> Settings:
        for url, name in (
            (self.read_database_url, READ_DATABASE_URL_ENV),
            (self.admin_database_url, ADMIN_DATABASE_URL_ENV),
        ):
            if url is not None and self.database_url is None:
                raise _complete(
                    f"{name} is set but {DATABASE_URL_ENV} is not; "
                    "writes need a primary database URL"
                )
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """URLs shown masked (sqlalchemy's repr hides the userinfo password only)."""
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if isinstance(value, URL) else value


class _MappingSource(EnvSettingsSource):
    """The environment source reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def _layered(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win, key by key, one level into nested settings (``pool``)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            below = merged.get(key)
            if isinstance(below, dict) and isinstance(value, dict):
                merged[key] = {**below, **value}
            else:
                merged[key] = value
    return merged
