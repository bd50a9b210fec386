"""mask_url never shows a credential, whatever the shape of the URL.

A password can sit in the userinfo (``user:secret@``) or in the query string
(``?password=secret``, any case, or ``sslpassword=``); both authenticate with asyncpg
and libpq. The secret below is random, so finding it in the output is a leak, never a
coincidence; it is also looked for URL-encoded.
"""

from __future__ import annotations

from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from gallery_analytics.config import is_secret_query_key, mask_url, normalise_url
from gallery_analytics.errors import ConfigurationError

PROPERTY = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])

secret_cores = st.text(alphabet="0123456789abcdef", min_size=12, max_size=16)
password_text = st.builds(
    lambda core, extra: f"S{core}{extra}",
    secret_cores,
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=6),
)
secret_keys = st.sampled_from(
    ["password", "PASSWORD", "Password", "sslpassword", "SSLPassword", "passwd", "pwd"]
)
plain_keys = st.sampled_from(["host", "sslmode", "passfile", "application_name", "port"])
plain_values = st.text(alphabet="abcdefghijklmnopqrstuvwxyz/._-", min_size=1, max_size=12)
hosts = st.one_of(st.none(), st.sampled_from(["127.0.0.1", "db.example", "[::1]", "h"]))


def _forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), quote_plus(secret), quote(secret)]


@PROPERTY
@given(
    secret=password_text,
    in_userinfo=st.booleans(),
    secret_key=st.one_of(st.none(), secret_keys),
    others=st.lists(st.tuples(plain_keys, plain_values), max_size=3),
    host=hosts,
    port=st.one_of(st.none(), st.integers(1, 65535)),
    username=st.sampled_from(["analyst", "a", "postgres"]),
    as_string=st.booleans(),
)
def test_mask_url_never_shows_the_secret(
    secret: str,
    in_userinfo: bool,
    secret_key: str | None,
    others: list[tuple[str, str]],
    host: str | None,
    port: int | None,
    username: str,
    as_string: bool,
) -> None:
    query: dict[str, str] = dict(others)
    if secret_key is not None:
        query[secret_key] = secret
    url = URL.create(
        "postgresql",
        username=username,
        password=secret if in_userinfo or secret_key is None else None,
        host=host.strip("[]") if host else None,
        port=port if host else None,
        database="gallery",
        query=query,
    )
    shown = mask_url(url.render_as_string(hide_password=False) if as_string else url)
    leaked = [form for form in _forms(secret) if form in shown]
    assert not leaked, shown
    assert "***" in shown
    assert username in shown  # still useful: who and where
    if "passfile" in query:
        assert "passfile=" in shown


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://analyst@127.0.0.1:5432/gallery?password=secret",
        "postgresql://analyst@127.0.0.1:5432/gallery?PASSWORD=secret",
        "postgresql://analyst@127.0.0.1:5432/gallery?sslmode=require&Password=secret",
        "postgresql://analyst@/gallery?host=/run/pg&sslpassword=secret",
        "postgresql://analyst:secret@/gallery?password=secret",
        "postgresql://analyst@h/gallery?password=secret&password=secret",
        "postgresql://analyst:secret@h:port/gallery",  # unparseable: nothing echoed
        "postgresql+asyncpg://analyst:secret@h/gallery",
    ],
)
def test_known_credential_forms_are_masked(raw: str) -> None:
    assert "secret" not in mask_url(raw)


def test_passfile_and_other_parameters_stay_visible() -> None:
    shown = mask_url("postgresql://analyst@h/gallery?passfile=/home/a/.pgpass&sslmode=require")
    assert shown == "postgresql://analyst@h/gallery?passfile=%2Fhome%2Fa%2F.pgpass&sslmode=require"


@pytest.mark.parametrize("key", ["password", "PassWord", "sslpassword", "db_password", "token"])
def test_secret_query_keys(key: str) -> None:
    assert is_secret_query_key(key)


@pytest.mark.parametrize("key", ["passfile", "sslkey", "sslcert", "host", "user"])
def test_non_secret_query_keys(key: str) -> None:
    assert not is_secret_query_key(key)


@pytest.mark.parametrize("port", [0, 65536, 99999])
def test_out_of_range_port_is_a_configuration_error(port: int) -> None:
    with pytest.raises(ConfigurationError, match="expected a port from 1 to 65535"):
        normalise_url(f"postgresql://analyst:secret@h:{port}/gallery")
