"""Connections of the ADBC PostgreSQL driver, for reading large results as Arrow.

Why a second driver beside asyncpg: ADBC reads ``COPY ... (FORMAT binary)`` and decodes
it into Arrow columns in C, at close to the speed the server produces it (measured in
``benchmarks/extract.py``); asyncpg would hand over the bytes and leave the decoding to
Python. The pool, sessions and every other path stay on asyncpg.

An ADBC connection is blocking (libpq underneath), so :class:`AdbcQuery` is used from a
worker thread, one call at a time; only :meth:`AdbcQuery.cancel` may be called from
another thread (libpq's cancel request is made for that). It connects with the same role,
server and startup settings as the pool's connections (read-only, statement timeout,
result-shaping settings, see :func:`gallery_analytics.db.database.session_settings`),
to the server the :class:`~gallery_analytics.db.database.Database` routed the read to.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
from adbc_driver_manager import Error as AdbcError
from adbc_driver_postgresql import dbapi as adbc
from sqlalchemy.engine import URL

from gallery_analytics.db.database import session_settings
from gallery_analytics.db.sessions import CONNECT_TIMEOUT_SECONDS
from gallery_analytics.db.translate import describe_server, translate_adbc_error

# How much Arrow data ADBC gathers before handing over a record batch. Smaller batches
# start the caller's work sooner and bound memory when streaming; larger ones cost fewer
# hand-overs. 16 MiB is ADBC's own default; streaming callers pass less.
DEFAULT_BATCH_BYTES = 16 << 20
_BATCH_SIZE_OPTION = "adbc.postgresql.batch_size_hint_bytes"

_SNAPSHOT_ID = re.compile(r"\A[0-9A-Fa-f]+(?:-[0-9A-Fa-f]+)+\Z")

# asyncpg spellings of URL parameters that libpq spells differently.
_LIBPQ_NAMES = {"ssl": "sslmode"}
# Connection parameters libpq itself understands (its documentation's list). asyncpg
# sends any other URL parameter to the server as a setting (?work_mem=64MB), so these
# travel in ``options`` as ``-c name=value``, as they do for the pool.
_LIBPQ_PARAMETERS = frozenset(
    {
        "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "require_auth",
        "channel_binding", "connect_timeout", "client_encoding", "options",
        "application_name", "fallback_application_name", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication",
        "gssencmode", "sslmode", "sslnegotiation", "sslcompression", "sslcert", "sslkey",
        "sslpassword", "sslcertmode", "sslrootcert", "sslcrl", "sslcrldir", "sslsni",
        "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version",
        "krbsrvname", "gsslib", "gssdelegation", "service", "target_session_attrs",
        "load_balance_hosts",
    }
)  # fmt: skip


def libpq_uri(url: URL, *, statement_timeout: float, read_only: bool) -> str:
    """``url`` (a SQLAlchemy URL for asyncpg) as a libpq connection URI carrying the
    package's startup settings in ``options`` and the pool's connect timeout. It holds
    the password: never shown."""
    query: dict[str, str] = {}
    settings: dict[str, str] = {}
    for key, value in url.query.items():
        name = _LIBPQ_NAMES.get(key, key)
        text = value if isinstance(value, str) else str(value[-1])
        (query if name in _LIBPQ_PARAMETERS else settings)[name] = text
    settings.update(session_settings(statement_timeout=statement_timeout, read_only=read_only))
    query.setdefault("connect_timeout", str(math.ceil(CONNECT_TIMEOUT_SECONDS)))
    # libpq's options: "-c name=value" pairs, spaces inside a value escaped with "\". Ours
    # come after any the URL brings, so they win, as they do for the pool.
    options = " ".join(
        [query.pop("options", "")]
        + [f"-c {name}={value.replace(' ', chr(92) + ' ')}" for name, value in settings.items()]
    ).strip()
    target = url.set(drivername="postgresql", query=query)
    if target.host is None:
        target = target.set(host="localhost")  # a Unix socket: ?host=<dir> wins
    # Percent-encoded by hand: SQLAlchemy would write a space as "+", which libpq keeps.
    return (
        target.render_as_string(hide_password=False)
        + f"&options={urllib.parse.quote(options, safe='')}"
    )


class AdbcQuery:
    """One query read through one ADBC connection: connect, run, read batches, close.

    ``snapshot``: a snapshot exported by another transaction (``pg_export_snapshot()``),
    which this connection's transaction imports before the query runs, so several
    connections read one consistent state of the database.
    """

    def __init__(
        self,
        url: URL,
        *,
        statement_timeout: float,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        snapshot: str | None = None,
    ) -> None:
        if snapshot is not None and not _SNAPSHOT_ID.match(snapshot):
            # It is spliced into SQL below: only what pg_export_snapshot() returns.
            raise ValueError(f"not a snapshot id: {snapshot!r}")
        self._url = url
        self._statement_timeout = statement_timeout
        self._batch_bytes = batch_bytes
        self._snapshot = snapshot
        self._connection: Any = None
        self._cursor: Any = None
        self._reader: pa.RecordBatchReader | None = None
        self._lock = threading.Lock()  # between cancel() and close()

    def open(self) -> None:
        """Connect (and import the snapshot, if any). Blocking."""
        uri = libpq_uri(self._url, statement_timeout=self._statement_timeout, read_only=True)
        with self._translated():
            self._connection = adbc.connect(uri, autocommit=True)
            self._cursor = self._connection.cursor()
            self._cursor.adbc_statement.set_options(**{_BATCH_SIZE_OPTION: str(self._batch_bytes)})
            if self._snapshot is not None:
                self._cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                # Hex digits and dashes (checked in __init__).
                self._cursor.execute(f"SET TRANSACTION SNAPSHOT '{self._snapshot}'")

    def start(self, sql: str) -> pa.Schema:
        """Start ``sql`` (ADBC runs it as a binary COPY); the result's Arrow schema."""
        with self._translated():
            self._cursor.execute(sql)
            # The cursor's own reader, not fetch_record_batch()'s bare pyarrow one: an
            # error in the middle of the stream (division by zero, statement timeout, a
            # lost connection) then arrives as an ADBC error with its SQLSTATE, not as
            # an OSError holding only libpq's text. (What fetch_record_batch() unwraps;
            # tests/integration/frames/test_extract_parquet.py fails if this changes.)
            reader: pa.RecordBatchReader = self._cursor._results.reader
            self._reader = reader
            return reader.schema

    def next_batch(self) -> pa.RecordBatch | None:
        """The next record batch, or None at the end. Blocking; releases the GIL."""
        assert self._reader is not None, "start() first"
        with self._translated():
            try:
                return self._reader.read_next_batch()
            except StopIteration:
                return None

    def cancel(self) -> None:
        """Ask the server to stop the running query, without waiting: libpq's cancel
        request opens a connection of its own and blocks, so it runs in a daemon thread
        (from the event loop's thread, a server that stopped answering would freeze the
        loop). The blocked call then fails with a cancellation error."""
        threading.Thread(
            target=self._cancel_now, name="gallery-extract-cancel", daemon=True
        ).start()

    def _cancel_now(self) -> None:
        with self._lock:
            if self._cursor is not None:
                # An error here: nothing runs any more, so nothing to stop.
                with contextlib.suppress(AdbcError):
                    self._cursor.adbc_cancel()

    def close(self) -> None:
        """Close the reader, the statement and the connection (a transaction open for a
        snapshot is rolled back with it). Blocking; safe to call twice."""
        with self._lock:
            reader, cursor, connection = self._reader, self._cursor, self._connection
            self._reader = self._cursor = self._connection = None
        for resource in (reader, cursor, connection):
            if resource is not None:
                # An error here: already broken; the server side ends with the socket.
                with contextlib.suppress(AdbcError, OSError):
                    resource.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """ADBC's errors re-raised as the package's (one message per cause)."""
        try:
            yield
        except AdbcError as exc:
            secret = self._url.password
            translated = translate_adbc_error(
                exc, server=describe_server(self._url), secret=str(secret) if secret else None
            )
            if secret and str(secret) in f"{exc}{getattr(exc, 'details', '')}":
                raise translated from None  # the driver's own text would show it
            raise translated from exc
