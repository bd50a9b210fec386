"""An embedded PostgreSQL server in a project-local directory.

Analysts should not have to install or configure a database to try the workbench, so
with no URL configured we run our own server: ``initdb`` once, then ``pg_ctl start``
on demand. It listens only on a Unix socket in a private directory (no TCP port to
collide with, no password to leak) and outlives the process that started it, so a
notebook, the CLI and the tests can share it; ``gallery-analytics db stop`` ends it.

The binaries come from the pgserver wheel when it is installed (CPython 3.9 to 3.12),
otherwise from a PostgreSQL found on PATH (conda-forge ``postgresql``, Debian
``postgresql``). PostgreSQL refuses to run as root, so under root the server runs as
an unprivileged system user that we create once.

A streaming replica of it (:class:`EmbeddedReplica`, ``gallery-analytics db start
--replica``) comes from the same binaries: ``pg_basebackup -R`` copies the primary into
``<base dir>/replica``, which then runs as a hot standby on its own socket, replaying the
primary's WAL as it is written. It is how the workbench's read routing, read-your-writes
and fallback are tested for real, and a small model of production's replicas.

Everything here is blocking (subprocesses, file locks): async callers use
``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gallery_analytics.config import Settings, default_embedded_dir
from gallery_analytics.errors import ConfigurationError, EmbeddedServerError

logger = logging.getLogger(__name__)

BINDIR_ENV = "GALLERY_PG_BINDIR"
SYSTEM_USER_ENV = "GALLERY_PG_SYSTEM_USER"
SUPERUSER = "postgres"
PORT = 5432  # only names the socket file; nothing listens on TCP
_SOCKET_PATH_LIMIT = 100  # sun_path is 108 bytes including ".s.PGSQL.5432" and NUL

# Tuned for an analytics sandbox: bulk loads and big scans, few connections. Durable:
# every acknowledged commit is on disk (fsync and synchronous_commit on; an import that
# said "1 new" survives a kill -9 of the server). Only the demo reload opts out, inside
# its own transaction (gallery_analytics.demo.load). Passed as -c options at every start,
# so they also override what older data directories appended to postgresql.conf.
_SERVER_SETTINGS = {
    "listen_addresses": "''",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "synchronous_commit": "on",
    "fsync": "on",
    # Lets COPY into a table truncated in the same transaction skip the WAL (bulk seeds).
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "jit": "off",
}

# Once a replica was made from it, the primary writes enough WAL for streaming (this costs
# the bulk seed its WAL skip) and keeps 1 GB of it, so a replica stopped for a while can
# catch up by streaming. A replication slot would keep WAL for a replica gone forever
# until the disk fills; a replica that falls further behind is made again instead.
_REPLICATION_SETTINGS = {
    "wal_level": "replica",
    "max_wal_senders": "10",
    "wal_keep_size": "1GB",
}
_RESTART_SETTINGS = ("wal_level", "max_wal_senders")
# The standby answers analysts' long queries: tell the primary which rows they still
# read, so vacuum there does not cancel them ("conflict with recovery").
_STANDBY_SETTINGS = {**_REPLICATION_SETTINGS, "hot_standby": "on", "hot_standby_feedback": "on"}
REPLICA_DIR = "replica"

NO_POSTGRES_MESSAGE = (
    "No PostgreSQL is available for the embedded database. Either install the package "
    "with its default dependencies on CPython 3.9-3.12 (pip install -e . brings pgserver, "
    "which ships PostgreSQL), install PostgreSQL binaries on PATH (conda install -c "
    "conda-forge postgresql, or apt-get install postgresql), or point "
    "GALLERY_DATABASE_URL at an existing server."
)


@dataclass(frozen=True, slots=True)
class PostgresBinaries:
    """A directory holding initdb and pg_ctl, and where we found it."""

    bindir: Path
    origin: str

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def find_postgres_binaries(bindir: Path | None = None) -> PostgresBinaries:
    """Locate PostgreSQL server binaries: ``bindir`` (the settings' ``GALLERY_PG_BINDIR``)
    when given, else the pgserver wheel, PATH, Debian's directories."""
    if bindir is not None:
        if not (bindir / "pg_ctl").is_file():
            raise EmbeddedServerError(f"{BINDIR_ENV}={bindir} holds no pg_ctl")
        return PostgresBinaries(bindir, BINDIR_ENV)
    # find_spec rather than import: pgserver's import has side effects we don't need.
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (bindir / "pg_ctl").is_file():
            return PostgresBinaries(bindir, "pgserver")
    on_path = shutil.which("pg_ctl")
    if on_path:
        return PostgresBinaries(Path(on_path).resolve().parent, "PATH")
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return PostgresBinaries(debian[-1].parent, "system")
    raise EmbeddedServerError(NO_POSTGRES_MESSAGE)


@dataclass(frozen=True, slots=True)
class ServerStatus:
    running: bool
    pid: int | None
    data_dir: Path
    socket_dir: Path | None

    def describe(self) -> str:
        if self.running and self.socket_dir is None:
            return f"starting (pid {self.pid}) with data in {self.data_dir}"
        if self.running:
            return f"running (pid {self.pid}) with data in {self.data_dir}"
        if (self.data_dir / "PG_VERSION").exists():
            return f"stopped; data kept in {self.data_dir}"
        return f"not initialised; it will be created in {self.data_dir}"


class EmbeddedPostgres:
    """Manage one PostgreSQL data directory: initialise, start, stop, report status.

    ``settings`` (default: ``Settings()``, the defaults; entry points pass the object they
    read with ``Settings.from_env``) gives the data directory, the binaries and the system
    user; an explicit ``base_dir`` wins over the settings' directory (throwaway servers).
    """

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        settings: Settings | None = None,
        binaries: PostgresBinaries | None = None,
    ) -> None:
        # Nothing touches the filesystem here: constructing one inside async code is
        # safe; every method below blocks and runs in a worker thread from async code.
        self._settings = settings or Settings()
        self._base_dir = base_dir or self._settings.embedded_dir
        self._binaries = binaries

    @functools.cached_property
    def base_dir(self) -> Path:
        """The directory holding ``pgdata`` (default: the project's ``.gallery``).

        A path that is, or lies under, something other than a directory (``/dev/null``,
        ``/etc/passwd``) is refused here, once, as one line: every method below would
        otherwise fail with its own traceback (NotADirectoryError, FileExistsError).
        """
        base_dir = (self._base_dir or default_embedded_dir()).resolve()
        existing = next((path for path in (base_dir, *base_dir.parents) if path.exists()), None)
        if existing is not None and not existing.is_dir():
            where = (
                "GALLERY_EMBEDDED_DIR"
                if self._base_dir is not None and self._base_dir == self._settings.embedded_dir
                else "the embedded server's directory"
            )
            raise ConfigurationError(
                f"{where} must be a directory, but {existing} is not a directory"
            )
        return base_dir

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "pgdata"

    @property
    def replication_enabled(self) -> bool:
        """Whether a replica was made (or is being made) from this server: its directory
        exists, so the primary must write WAL for streaming."""
        return (self.base_dir / REPLICA_DIR).is_dir()

    def server_settings(self) -> dict[str, str]:
        """The ``-c`` settings this server starts with."""
        if self.replication_enabled:
            return {**_SERVER_SETTINGS, **_REPLICATION_SETTINGS}
        return dict(_SERVER_SETTINGS)

    @property
    def binaries(self) -> PostgresBinaries:
        if self._binaries is None:
            self._binaries = find_postgres_binaries(self._settings.pg_bindir)
        return self._binaries

    # -- public API -----------------------------------------------------------------

    def status(self) -> ServerStatus:
        info = _read_postmaster_pid(self.data_dir)
        if info is None or not _process_alive(info.pid):
            return ServerStatus(False, None, self.data_dir, None)
        return ServerStatus(info.status == "ready", info.pid, self.data_dir, info.socket_dir)

    def start(self) -> str:
        """Start the server if it is not running and return its superuser URL."""
        with self._locked():
            current = self.status()
            if current.running and current.socket_dir is not None:
                if self._started_with(self.server_settings()):
                    return self._url(current.socket_dir)
                # A replica was made since it started: restart with WAL for streaming.
                logger.warning(
                    "restarting the embedded PostgreSQL in %s to stream WAL to its replica",
                    self.data_dir,
                )
                self._pg_ctl_stop()
            self._ensure_initialised()
            socket_dir = self._socket_dir()
            settings = " ".join(
                f"-c {key}={value}" for key, value in self.server_settings().items()
            )
            options = f"-k {socket_dir} -p {PORT} {settings}"
            logger.info("starting embedded PostgreSQL in %s", self.data_dir)
            self._run(
                [
                    self.binaries.tool("pg_ctl"),
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.data_dir / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                ],
                what="start the embedded PostgreSQL server",
            )
            return self._url(socket_dir)

    def stop(self) -> bool:
        """Stop the server; return False if it was not running (then nothing is created:
        no directory, no lock file)."""
        if not self.status().running:
            return False
        with self._locked():
            if not self.status().running:
                return False
            self._pg_ctl_stop()
            return True

    def _pg_ctl_stop(self) -> None:
        self._run(
            [
                self.binaries.tool("pg_ctl"),
                "stop",
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
            ],
            what="stop the embedded PostgreSQL server",
        )

    def _started_with(self, settings: dict[str, str]) -> bool:
        """Whether the running server was started with the streaming settings of
        ``settings`` (the ones that take a restart to change; postmaster.opts holds its
        command line)."""
        try:
            opts = (self.data_dir / "postmaster.opts").read_text()
        except OSError:
            return False
        return all(f'"{key}={settings[key]}"' in opts for key in _RESTART_SETTINGS)

    def url(self, database: str = SUPERUSER) -> str:
        """URL of the running server (raises if it is not running)."""
        current = self.status()
        if not current.running or current.socket_dir is None:
            raise EmbeddedServerError(
                "the embedded PostgreSQL server is not running; start it with "
                "`gallery-analytics db start`"
            )
        return self._url(current.socket_dir, database)

    # -- internals --------------------------------------------------------------------

    @staticmethod
    def _url(socket_dir: Path, database: str = SUPERUSER) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@/{database}?host={socket_dir}"

    _lock_name = "embedded.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start/stop across processes (a notebook and the CLI, say)."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with open(self.base_dir / self._lock_name, "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _ensure_initialised(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedServerError(
                f"{self.data_dir} exists but is not a PostgreSQL data directory; "
                "move it away or set GALLERY_EMBEDDED_DIR elsewhere"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _stop_orphaned_servers(self.data_dir)
        self._hand_to_server_user(self.data_dir)
        logger.info("initialising embedded PostgreSQL data directory %s", self.data_dir)
        self._run(
            [
                self.binaries.tool("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",  # safe: only a private Unix socket, no TCP
                "--encoding=UTF8",
                "--no-locale",  # C collation: the same sort order on every machine
                "--no-sync",
            ],
            what="initialise the embedded PostgreSQL data directory",
        )

    def _socket_dir(self) -> Path:
        """The data directory if its path is short enough for a socket, else a private /tmp dir."""
        if len(str(self.data_dir)) + len("/.s.PGSQL.5432") < _SOCKET_PATH_LIMIT:
            return self.data_dir
        digest = hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:12]
        socket_dir = Path(tempfile.gettempdir()) / f"gallery-pg-{digest}"
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._hand_to_server_user(socket_dir)
        return socket_dir

    def _server_user(self) -> pwd.struct_passwd | None:
        """The unprivileged account the server runs as when we are root, else None."""
        if os.geteuid() != 0:
            return None
        name = self._settings.pg_system_user  # GALLERY_PG_SYSTEM_USER
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
        logger.info("creating system user %s to run the embedded PostgreSQL server", name)
        result = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise EmbeddedServerError(
                f"PostgreSQL cannot run as root and creating the system user {name!r} failed: "
                f"{result.stderr.strip()}; set {SYSTEM_USER_ENV} to an existing unprivileged user"
            )
        return pwd.getpwnam(name)

    def _hand_to_server_user(self, path: Path) -> None:
        """Give ``path`` to the server's account and let it traverse the parents."""
        account = self._server_user()
        if account is None:
            return
        os.chown(path, account.pw_uid, account.pw_gid)
        path.chmod(0o700)
        for parent in path.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                logger.info(
                    "allowing others to traverse %s so PostgreSQL can reach its data", parent
                )
                parent.chmod(mode | stat.S_IXOTH)

    def _run(self, command: list[str], *, what: str) -> None:
        account = self._server_user()
        kwargs: dict[str, object] = {}
        if account is not None:
            kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "PGTZ": "UTC"}
        if account is not None:
            env["HOME"] = str(self.base_dir)
        result = subprocess.run(  # type: ignore[call-overload]
            command,
            capture_output=True,
            text=True,
            check=False,
            env=env,
            cwd=str(self.base_dir),
            **kwargs,
        )
        if result.returncode != 0:
            log_tail = _tail(self.data_dir / "server.log")
            raise EmbeddedServerError(
                f"could not {what} (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}{log_tail}"
            )


class EmbeddedReplica(EmbeddedPostgres):
    """A streaming hot standby of the embedded server, in ``<base dir>/replica``.

    Made on first start with ``pg_basebackup -R`` from the running primary (which is
    restarted once with streaming WAL if it ran without), then started like the primary
    on a socket of its own. It is read-only by nature: every write goes to the primary.
    """

    _lock_name = "embedded-replica.lock"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / REPLICA_DIR

    @property
    def primary(self) -> EmbeddedPostgres:
        return EmbeddedPostgres(self.base_dir, settings=self._settings, binaries=self._binaries)

    def server_settings(self) -> dict[str, str]:
        return {**_SERVER_SETTINGS, **_STANDBY_SETTINGS}

    def _ensure_initialised(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            self.primary.start()  # the standby streams from it
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedServerError(
                f"{self.data_dir} exists but is not a PostgreSQL data directory; "
                "move it away to make a new replica"
            )
        # The directory first: from now on the primary starts (here: restarts) with
        # streaming WAL, which pg_basebackup needs.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._hand_to_server_user(self.data_dir)
        primary = self.primary
        primary_url = primary.start()
        logger.info("copying the embedded PostgreSQL into a replica in %s", self.data_dir)
        socket_dir = primary_url.rpartition("host=")[2]
        try:
            # --wal-method=stream also copies the WAL written during the copy, so the
            # replica starts consistent; -R writes standby.signal and primary_conninfo.
            self._run(
                [
                    self.binaries.tool("pg_basebackup"),
                    "-D",
                    str(self.data_dir),
                    "-h",
                    socket_dir,
                    "-p",
                    str(PORT),
                    "-U",
                    SUPERUSER,
                    "--write-recovery-conf",
                    "--wal-method=stream",
                    "--checkpoint=fast",
                    "--no-sync",
                ],
                what="copy the embedded PostgreSQL server into a replica",
            )
        except BaseException:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise
        # The primary's socket lives in its data directory, so the copy holds its lock
        # file, which would stop the replica from opening a socket of its own.
        for stale in self.data_dir.glob(".s.PGSQL.*"):
            stale.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class _PostmasterInfo:
    pid: int
    socket_dir: Path | None
    status: str


def _read_postmaster_pid(data_dir: Path) -> _PostmasterInfo | None:
    """Parse postmaster.pid: pid, data dir, start time, port, socket dir, host, shm, status."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if not lines or not re.fullmatch(r"\d+", lines[0].strip()):
        return None
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    status = lines[7].strip() if len(lines) > 7 else "starting"
    return _PostmasterInfo(int(lines[0]), socket_dir, status)


def _stop_orphaned_servers(data_dir: Path) -> None:
    """Stop servers still running on a deleted copy of ``data_dir``.

    When a data directory is deleted under a running server, that server lives on; a
    minute later it notices its lock file is gone and, shutting down, unlinks the
    socket of whatever new server now runs in the same path. Stop it first.
    """
    marker = f"-D\x00{data_dir}\x00".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"postgres" in cmdline.split(b"\x00", 1)[0] and marker in cmdline + b"\x00":
            logger.warning("stopping orphaned PostgreSQL %s of a deleted %s", proc.name, data_dir)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), signal.SIGQUIT)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\nserver log:\n" + "\n".join(text) if text else ""
