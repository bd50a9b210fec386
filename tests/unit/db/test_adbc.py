"""The ADBC connection's URI and error translation, without a server.

Errors of the extract driver must become the same project errors asyncpg's do (one
table, keyed by SQLSTATE), and no message may ever show the password.
"""

from __future__ import annotations

import urllib.parse

import adbc_driver_manager as adbc_errors
import pytest
from sqlalchemy.engine import make_url

import gallery_analytics as ga
from gallery_analytics.db.adbc import AdbcQuery, libpq_uri
from gallery_analytics.db.translate import translate_adbc_error

SECRET = "s3cr3t-pa55"


def _error(
    message: str, sqlstate: str | None = None, primary: str | None = None
) -> adbc_errors.Error:
    details = [(b"PG_DIAG_MESSAGE_PRIMARY", primary.encode())] if primary else None
    return adbc_errors.OperationalError(
        message, status_code=adbc_errors.AdbcStatusCode.IO, sqlstate=sqlstate, details=details
    )


@pytest.mark.parametrize(
    ("sqlstate", "primary", "kind", "words"),
    [
        ("42P01", 'relation "nope" does not exist', ga.DatabaseError, "does not exist"),
        ("57014", "canceling statement due to statement timeout", ga.QueryTimeoutError, ""),
        ("25006", "cannot execute INSERT in a read-only transaction", ga.ReadOnlyError, ""),
        ("42501", "permission denied for table users", ga.ReadOnlyError, "permission denied"),
        ("22012", "division by zero", ga.DatabaseError, "division by zero"),
        ("57P01", "terminating connection", ga.DatabaseUnavailableError, "terminating"),
    ],
)
def test_sqlstates_map_as_asyncpg_errors_do(
    sqlstate: str, primary: str, kind: type[Exception], words: str
) -> None:
    error = _error(f"[libpq] ERROR: {primary}\nQuery was: SELECT ...", sqlstate, primary)
    translated = translate_adbc_error(error, server="localhost/gallery")
    assert type(translated) is kind
    assert words in str(translated)
    assert "\n" not in str(translated)


def test_a_failed_connection_names_the_server_and_never_the_password() -> None:
    error = _error(f"IO: [libpq] Failed to connect: bad token {SECRET}\nmore")
    translated = translate_adbc_error(error, server="db.example:5432/gallery", secret=SECRET)
    assert isinstance(translated, ga.DatabaseUnavailableError)
    assert "db.example:5432/gallery" in str(translated)
    assert SECRET not in str(translated)
    assert "***" in str(translated)


def test_a_message_quoting_the_password_is_not_chained() -> None:
    """The driver's own error stays out of the traceback when it holds the password."""
    query = AdbcQuery(
        make_url(f"postgresql+asyncpg://reader:{SECRET}@db.example/gallery"), statement_timeout=5
    )
    with pytest.raises(ga.DatabaseUnavailableError) as caught, query._translated():
        raise _error(f"[libpq] Failed to connect: {SECRET}")
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert SECRET not in str(caught.value)


def test_the_uri_carries_the_session_settings_percent_encoded() -> None:
    uri = libpq_uri(
        make_url(
            f"postgresql+asyncpg://reader:{SECRET}@/gallery?host=/run/pg&ssl=require&work_mem=64MB"
        ),
        statement_timeout=2.5,
        read_only=True,
    )
    parsed = urllib.parse.urlsplit(uri)
    assert parsed.scheme == "postgresql"
    query = urllib.parse.parse_qs(parsed.query)
    assert query["host"] == ["/run/pg"]
    assert query["sslmode"] == ["require"]  # asyncpg's spelling, in libpq's
    assert "ssl" not in query
    options = query["options"][0]
    assert "-c default_transaction_read_only=on" in options
    assert "-c statement_timeout=2500" in options
    assert '-c search_path="$user",\\ public' in options  # the space escaped for libpq
    assert "+" not in parsed.query  # a space written as "+" would reach libpq as "+"
    # asyncpg sends unknown URL parameters to the server as settings; so does the URI
    # (libpq would refuse "work_mem" as a connection parameter).
    assert "work_mem" not in query
    assert options.startswith("-c work_mem=64MB ")
    assert query["connect_timeout"] == ["10"]  # no wait on a silent server is unbounded
