"""Settings from the environment, in one object.

One pydantic-settings class holds every ``GALLERY_*`` variable: pydantic types do the
validation (numbers, dates, paths), a validator normalises database URLs, and every
problem surfaces as the project's :class:`ConfigurationError`, one line naming the
variable. A database URL is never echoed in an error: it may carry a password.

Where the values come from (:meth:`Settings.from_env`): the environment, over one ``.env``
file found by :func:`find_env_file` (``GALLERY_ENV_FILE``, else the nearest ``.env`` from
the current directory up to the project root), so a command, a notebook kernel started in
``notebooks/`` and a script in a subfolder read the same file. Names are case-sensitive:
only the upper-case ``GALLERY_*`` names the README lists. Processes the workbench starts
get the resolved settings (:func:`process_environment`), never a second lookup of their own.

Nothing here connects to anything: reading settings is pure, so importing the
package never touches a database or an event loop.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
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
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from gallery_analytics.errors import ConfigurationError

ENV_PREFIX = "GALLERY_"
DATABASE_URL_ENV = "GALLERY_DATABASE_URL"
READ_DATABASE_URL_ENV = "GALLERY_READ_DATABASE_URL"
ADMIN_DATABASE_URL_ENV = "GALLERY_ADMIN_DATABASE_URL"
REPLICA_DATABASE_URL_ENV = "GALLERY_REPLICA_DATABASE_URL"
CACHE_URL_ENV = "GALLERY_CACHE_URL"
# The panel cache's backends: this process's memory, or a Redis server (TCP, TLS).
CACHE_SCHEMES = ("mem", "redis", "rediss")
ENV_FILE_ENV = "GALLERY_ENV_FILE"
ENV_FILE = ".env"
# What marks a project's root: the .env search goes no higher.
_PROJECT_MARKERS = ("pyproject.toml", ".git")

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
        _refuse_unencoded_at(raw, setting)
        try:
            url = make_url(raw.strip())
        except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
            raise ConfigurationError(
                f"{setting} is not a database URL; "
                "expected postgresql://user:password@host:port/dbname"
            ) from None
    if url.host is not None and "@" in url.host:
        raise _unencoded_at(setting)
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ConfigurationError(f"{setting} has port {url.port}; expected a port from 1 to 65535")
    backend = url.get_backend_name()
    if backend not in _POSTGRES_SCHEMES:
        raise ConfigurationError(
            f"{setting} must point at PostgreSQL (postgresql://...), got a {backend!r} URL"
        )
    return url.set(drivername="postgresql+asyncpg")


def _unencoded_at(setting: str) -> ConfigurationError:
    return ConfigurationError(
        f"{setting} has more than one '@' before its host; "
        "percent-encode '@' in a user name or password as %40"
    )


def _refuse_unencoded_at(raw: str, setting: str) -> None:
    """Refuse ``user:p@ss@host``: the URL parser would take ``ss@host`` for the host, and
    every later message naming the host would show part of the password."""
    _, separator, rest = raw.strip().partition("://")
    if not separator:
        return
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if authority.count("@") > 1:
        raise _unencoded_at(setting)


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
    """Where the embedded server keeps its data when ``GALLERY_EMBEDDED_DIR`` is not set:
    project-local and git-ignored.

    In a source checkout (the editable install) that is ``<project>/.gallery``; for an
    installed package it is ``./.gallery`` under the current directory.
    """
    project_root = Path(__file__).resolve().parent.parent
    if (project_root / "pyproject.toml").is_file():
        return project_root / ".gallery"
    return Path.cwd() / ".gallery"


def find_env_file(
    environ: Mapping[str, str] | None = None, *, start: Path | None = None
) -> Path | None:
    """The one ``.env`` file :meth:`Settings.from_env` reads, or None.

    ``GALLERY_ENV_FILE`` (in ``environ``, default ``os.environ``) names it explicitly; a
    name that is not a file is an error rather than silently no settings. Otherwise the
    nearest ``.env`` walking up from ``start`` (the current directory) to the project root,
    the first directory holding ``pyproject.toml`` or ``.git``: a kernel in ``notebooks/``
    or a script in a subfolder reads the project's file, and a ``.env`` above the project
    (a home directory's) is never read. Outside any project only ``start/.env`` counts.
    Blocking (it looks at the filesystem).
    """
    environ = os.environ if environ is None else environ
    named = environ.get(ENV_FILE_ENV, "").strip()
    if named == os.devnull:  # "no file": what process_environment gives a kernel
        return None
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"{ENV_FILE_ENV}={named} does not exist or is not a file")
        return path
    here = (start or Path.cwd()).resolve()
    upwards = [here, *here.parents]
    root = next(
        (folder for folder in upwards if any((folder / m).exists() for m in _PROJECT_MARKERS)),
        None,
    )
    searched = upwards[: upwards.index(root) + 1] if root is not None else [here]
    found = next((folder / ENV_FILE for folder in searched if (folder / ENV_FILE).exists()), None)
    if found is not None and not found.is_file():
        # A FIFO would block the read forever, a directory is a mistake: never skipped
        # silently (a .env further up would then apply instead).
        raise ConfigurationError(f"{found} is not a regular file; settings are read from a file")
    return found


# -- the .env file -----------------------------------------------------------------------------

_ENV_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)", re.ASCII)
_DOUBLE_QUOTED_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "$": "$"}


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of a ``.env`` file, read strictly; blocking.

    Our own small parser rather than python-dotenv (which pydantic-settings uses): dotenv
    warns about a line it cannot parse and drops it, so a ``GALLERY_DATABASE_URL`` with an
    unclosed quote vanished and the command silently used the embedded server (``seed``
    then replaced *its* data); and it expands ``${VAR}``, which changed passwords holding
    ``${``. Here every problem is a :class:`ConfigurationError` naming the file (and the
    line), values are taken literally, and only a regular file is opened (a FIFO named
    ``.env`` would block forever).

    The syntax: blank lines and ``#`` comments; ``KEY=value`` with an optional ``export``;
    a value is unquoted (a `` #`` starts a comment, whitespace around it is dropped),
    ``'single quoted'`` (literal) or ``"double quoted"`` (``\\"``, ``\\\\``, ``\\n``,
    ``\\t``, ``\\r``, ``\\$`` escapes), on one line. Values are never shown in errors: they
    may be passwords.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ConfigurationError(f"{path} is not a regular file; settings are read from a file")
        try:
            data = file.read()
        except OSError as exc:
            raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        raise ConfigurationError(f"{path}, line {bad_line}: not UTF-8 text") from None
    variables: dict[str, str] = {}
    # split("\n"), not splitlines(): line numbers as an editor counts them.
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(stripped)
        if match is None:
            raise ConfigurationError(f"{path}, line {number}: expected NAME=value")
        name, raw = match.groups()
        value = _env_value(raw)
        if value is None:
            raise ConfigurationError(
                f"{path}, line {number}: {name} has an unclosed quote or text after its "
                "closing quote"
            )
        variables[name] = value
    return variables


def _env_value(raw: str) -> str | None:
    """The value of one ``.env`` line (after ``=``), or None if its quoting is broken."""
    if not raw or raw[0] not in "'\"":
        return re.split(r"\s+#", raw, maxsplit=1)[0].strip()
    quote, index = raw[0], 1
    chars: list[str] = []
    while index < len(raw):
        char = raw[index]
        if char == quote:
            rest = raw[index + 1 :].strip()
            return "".join(chars) if not rest or rest.startswith("#") else None
        if quote == '"' and char == "\\" and index + 1 < len(raw):
            escaped = raw[index + 1]
            if escaped in _DOUBLE_QUOTED_ESCAPES:
                chars.append(_DOUBLE_QUOTED_ESCAPES[escaped])
                index += 2
                continue
        chars.append(char)
        index += 1
    return None


# -- validation errors -> one ConfigurationError line ------------------------------------------

# The custom pydantic error type raised by the validators below: a message that is
# already complete (it names its variables).
_MESSAGE = "gallery_message"
_SHOWN_LIMIT = 60


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
    if error_type == "less_than_equal":
        return f"must be at most {_number(context['le'])}"
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
    reason = _expected(error["type"], context, name)
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


_YYYY_MM_DD = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _iso_date(value: object) -> object:
    """A YYYY-MM-DD string as a date, exactly that form: pydantic's own date parsing would
    also take a datetime at midnight or a Unix timestamp, and ``date.fromisoformat`` takes
    ``20250101`` and ``2025-W01-1`` too, which the README does not promise."""
    if not isinstance(value, str):
        return value
    try:
        if _YYYY_MM_DD.fullmatch(value.strip()) is None:
            raise ValueError(value)
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError(
            "iso_date", "expected a date as YYYY-MM-DD, got {shown}", {"shown": repr(value)}
        ) from None


# A date written YYYY-MM-DD: GALLERY_TODAY here, the CLI's --on.
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]

# PostgreSQL takes a timeout as int32 milliseconds; the statement timeout is sent both as
# statement_timeout and, with the client's margin added (db.sessions'
# CLIENT_TIMEOUT_MARGIN_SECONDS, 15 s), as idle_in_transaction_session_timeout, so both
# must fit. Below a millisecond it would round to "no limit" or be refused.
_PG_MAX_TIMEOUT_SECONDS = (2**31 - 1) // 1000
_CLIENT_MARGIN_SECONDS = 15
StatementTimeout = Annotated[
    float,
    Field(ge=0.001, le=_PG_MAX_TIMEOUT_SECONDS - _CLIENT_MARGIN_SECONDS, allow_inf_nan=False),
]


class PoolSettings(BaseModel):
    """Connection-pool bounds shared by the read and write engines
    (``GALLERY_POOL_SIZE``, ``GALLERY_POOL_MAX_OVERFLOW``, ``GALLERY_POOL_TIMEOUT_SECONDS``,
    ``GALLERY_POOL_RECYCLE_SECONDS``, ``GALLERY_POOL_PRE_PING``)."""

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


DatabaseUrl = URL | None
_URL_FIELDS = frozenset(
    {"database_url", "read_database_url", "admin_database_url", "replica_database_url"}
)
# Secrets that are no database URL (masked in dumps and errors all the same).
_SECRET_FIELDS = _URL_FIELDS | {"cache_url"}


class Settings(BaseSettings):
    """Everything the package reads from the environment, immutable once built.

    ``Settings.from_env()`` reads the ``GALLERY_*`` variables (exact case), and the
    ``.env`` file :func:`find_env_file` finds for those not set (the environment wins).
    ``Settings(...)`` itself reads nothing: defaults plus the fields given, so settings
    built in code (tests, ``Database(url)``) never depend on the shell or a stray ``.env``.
    Entry points (CLI commands, ``connect()`` without settings) call ``from_env`` once and
    pass the object down; nothing below them reads the environment again.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # No env_file here: Settings(...) must never touch the filesystem (it is built
        # inside async code); from_env reads the environment and the .env file itself,
        # exact-case GALLERY_* names only (_gallery_variables), GALLERY_POOL_* into pool.
        env_file=None,
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        arbitrary_types_allowed=True,  # sqlalchemy's URL
    )

    database_url: DatabaseUrl = None
    # A role that may only read, on the primary: reads when no replica is configured,
    # and the fallback when the replica is down, too far behind, or has not yet replayed
    # this process's last write.
    read_database_url: DatabaseUrl = None
    # A streaming replica (a read-only role on it): where reads go while it is healthy.
    # N replicas behind one address (pgbouncer, pgpool, a load balancer) are one URL.
    replica_database_url: DatabaseUrl = None
    # A replica whose replay is further behind than this is treated as down.
    replica_max_lag_seconds: Seconds = 30.0
    # After a write through a Database, how long its next read waits for the replica to
    # replay that write before reading from the primary instead (read-your-writes).
    read_your_writes_wait_seconds: Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)] = 2.0
    # The shared panel cache: None keeps it in this process's memory; redis://... shares
    # it between kernels, API workers and Voila kernels.
    cache_url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = None
    # The longest a cached panel is served: bounds staleness from writes the data version
    # cannot see (there are none through the workbench; a restored backup would be one).
    cache_ttl_seconds: Seconds = 300.0
    # The schema owner, for migrations and demo reloads (default: database_url).
    admin_database_url: DatabaseUrl = None
    # None means default_embedded_dir(), resolved when the server is used (it touches
    # the filesystem, so not while building settings inside async code).
    embedded_dir: Path | None = None
    statement_timeout_seconds: StatementTimeout = 30.0
    # Streaming extracts (iter_batches, extract_to_parquet, `gallery-analytics extract`):
    # their one COPY lasts as long as the consumer takes, so the interactive bound above
    # would cut off a 10M-row Parquet file.
    extract_timeout_seconds: StatementTimeout = 3600.0
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
    # The HTTP API (`gallery-analytics serve`). Reads without a token
    # (GALLERY_API_PUBLIC_READS=1) for a deployment whose network already limits who may
    # read; writes and imports always need a token with their scope.
    api_public_reads: bool = False
    # The largest POST /imports body accepted (both CSVs and the form around them); a
    # larger one is refused with 413 while it streams in, before it fills the disk.
    api_max_upload_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024 * 1024

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except pydantic.ValidationError as exc:
            raise _configuration_error(exc, prefix=ENV_PREFIX, secret=_SECRET_FIELDS) from None

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
        """The ``GALLERY_*`` settings of ``environ`` (the whole environment: no file), or
        by default of ``os.environ`` over the ``.env`` file :func:`find_env_file` finds.
        Reading that file blocks: async code calls
        ``await asyncio.to_thread(Settings.from_env)``."""
        if environ is not None:
            return cls(**_fields(_gallery_variables(environ)))
        variables = _gallery_variables(os.environ)
        env_file = find_env_file()
        if env_file is not None:
            # case_sensitive: the file's names as written, so lower-case ones are dropped.
            in_file = read_env_file(env_file)
            variables = {**_gallery_variables(in_file), **variables}
        return cls(**_fields(variables))

    def as_environment(self) -> dict[str, str]:
        """These settings as ``GALLERY_*`` variables, for a process the workbench starts
        (values that differ from the defaults; URLs with their passwords, which the
        process needs). ``Settings.from_env(s.as_environment()) == s``."""
        # Not model_dump: it would turn a URL (a named tuple) into a plain tuple.
        variables = {
            _env_name(ENV_PREFIX, (name,)): value
            for name, value in _changed(self)
            if name != "pool"
        }
        variables |= {
            _env_name(ENV_PREFIX, ("pool", name)): value for name, value in _changed(self.pool)
        }
        return {name: _as_text(value) for name, value in variables.items() if value is not None}

    @field_serializer(*_SECRET_FIELDS)
    def _masked_url(self, value: URL | str | None) -> str | None:
        """URLs dump masked (``model_dump``, ``model_dump_json``): a dump is for showing.
        The real URLs go to child processes through :meth:`as_environment`, which reads
        the fields themselves, never a dump."""
        return None if value is None else mask_url(value)

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

    @field_validator("cache_url")
    @classmethod
    def _known_cache(cls, value: str | None) -> str | None:
        """A cache URL names a backend cashews has: an unknown scheme would otherwise
        surface as a driver error at the first panel, with the URL in it."""
        if value is None:
            return None
        scheme = value.partition("://")[0].casefold() if "://" in value else ""
        if scheme not in CACHE_SCHEMES:
            raise _complete(
                f"{CACHE_URL_ENV} must be a URL starting with "
                + ", ".join(f"{known}://" for known in CACHE_SCHEMES)
                + f", got {mask_url(value) if scheme else 'no scheme'}"
            )
        return value

    @field_validator("embedded_dir", "pg_bindir")
    @classmethod
    def _expand_home(cls, value: Path | None, info: pydantic.ValidationInfo) -> Path | None:
        if value is None:
            return None
        try:
            return value.expanduser()
        except RuntimeError:  # ~name of an account that does not exist
            name = _env_name(ENV_PREFIX, (info.field_name or "",))
            raise _complete(
                f"{name} starts with {value.parts[0]!r}, a home directory that does not exist"
            ) from None

    @model_validator(mode="after")
    def _primary_for_dependents(self) -> Settings:
        for url, name in (
            (self.read_database_url, READ_DATABASE_URL_ENV),
            (self.admin_database_url, ADMIN_DATABASE_URL_ENV),
            (self.replica_database_url, REPLICA_DATABASE_URL_ENV),
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
            secret = isinstance(value, URL) or (name == "cache_url" and value is not None)
            yield name, mask_url(value) if secret else value


def _changed(model: BaseModel) -> Iterator[tuple[str, Any]]:
    """The fields of ``model`` whose value differs from the field's default."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if value != field.default:
            yield name, value


def _as_text(value: object) -> str:
    """A setting's value as the environment writes it (read back by the same validators)."""
    if isinstance(value, URL):
        return value.render_as_string(hide_password=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _gallery_variables(environ: Mapping[str, str | None]) -> dict[str, str]:
    """The exact-case ``GALLERY_*`` variables of ``environ`` that have a value, with
    lower-cased names (what the environment source matches field names against). Another
    case (``gallery_database_url``) is not a setting: the README documents ``GALLERY_*``.
    An empty or blank value means "not set", so a file's value beneath it still applies."""
    return {
        name.lower(): value
        for name, value in environ.items()
        if name.startswith(ENV_PREFIX)
        and name == name.upper()
        and value is not None
        and value.strip()
    }


def _setting_names() -> frozenset[str]:
    """Every ``GALLERY_*`` name a setting is read from (the pool's one level down)."""
    names = {_env_name(ENV_PREFIX, (name,)) for name in Settings.model_fields if name != "pool"}
    names |= {_env_name(ENV_PREFIX, ("pool", name)) for name in PoolSettings.model_fields}
    return frozenset(names | {ENV_FILE_ENV})


def process_environment(
    settings: Settings, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a process the workbench starts (a notebook or report kernel).

    ``base`` (default ``os.environ``) without its setting variables, in any case, plus
    ``settings`` as ``GALLERY_*`` and ``GALLERY_ENV_FILE`` pointing at the empty
    ``os.devnull``: the process sees exactly the configuration of the command that started
    it, whatever its working directory, never a ``.env`` of its own. Other variables
    (``PATH``, ``GALLERY_TEST_SERVER_URL``) are kept.
    """
    base = os.environ if base is None else base
    settings_names = _setting_names()
    kept = {name: value for name, value in base.items() if name.upper() not in settings_names}
    return {**kept, **settings.as_environment(), ENV_FILE_ENV: os.devnull}


def _fields(variables: Mapping[str, str]) -> dict[str, Any]:
    """Settings' arguments from lower-cased ``gallery_*`` variables: ``gallery_pool_size``
    is ``pool.size`` (one level, after the field's name); a name that is no setting
    (``GALLERY_TEST_SERVER_URL``) is ignored. The values stay text: the fields' validators
    convert them, and a URL is never decoded as JSON."""
    fields: dict[str, Any] = {}
    pool: dict[str, str] = {}
    for name, value in variables.items():
        key = name.removeprefix(ENV_PREFIX.lower())
        nested = key.removeprefix("pool_")
        if nested != key and nested in PoolSettings.model_fields:
            pool[nested] = value
        elif key in Settings.model_fields and key != "pool":
            fields[key] = value
    if pool:
        fields["pool"] = pool
    return fields
