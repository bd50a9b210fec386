from __future__ import annotations

import pytest

from gallery_analytics.config import Settings, mask_url, normalise_url
from gallery_analytics.errors import ConfigurationError


@pytest.mark.parametrize(
    "raw",
    [
        "postgres://u:p@h:5433/db",
        "postgresql://u:p@h:5433/db",
        "postgresql+psycopg2://u:p@h:5433/db",
        "postgresql+asyncpg://u:p@h:5433/db",
        "  postgresql://u:p@h:5433/db\n",
    ],
)
def test_urls_are_normalised_to_asyncpg(raw: str) -> None:
    url = normalise_url(raw)
    assert url.drivername == "postgresql+asyncpg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "u",
        "p",
        "h",
        5433,
        "db",
    )


def test_unix_socket_urls_keep_their_host_parameter() -> None:
    url = normalise_url("postgresql://postgres@/gallery?host=/tmp/sock")
    assert url.query["host"] == "/tmp/sock"


@pytest.mark.parametrize("raw", ["not a url", "mysql://u@h/db", "sqlite:///x.db", ""])
def test_non_postgres_urls_are_rejected(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="GALLERY_DATABASE_URL"):
        normalise_url(raw)


def test_mask_url_hides_the_password() -> None:
    masked = mask_url("postgresql://analyst:pa%40ss@h/db")
    assert "pa@ss" not in masked
    assert "pa%40ss" not in masked
    assert masked == "postgresql://analyst:***@h/db"


def test_settings_default_to_the_embedded_server() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.read_database_url is None
    assert settings.statement_timeout_seconds == 30.0
    assert settings.pool.size == 10


def test_settings_read_primary_and_replica() -> None:
    settings = Settings.from_env(
        {
            "GALLERY_DATABASE_URL": "postgresql://u@primary/db",
            "GALLERY_READ_DATABASE_URL": "postgresql://u@replica/db",
            "GALLERY_POOL_SIZE": "4",
        }
    )
    assert settings.database_url is not None
    assert settings.database_url.host == "primary"
    assert settings.read_database_url is not None
    assert settings.read_database_url.host == "replica"
    assert settings.pool.size == 4


def test_a_replica_without_a_primary_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="GALLERY_DATABASE_URL is not"):
        Settings.from_env({"GALLERY_READ_DATABASE_URL": "postgresql://u@replica/db"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GALLERY_STATEMENT_TIMEOUT_SECONDS", "soon", "must be a number"),
        ("GALLERY_STATEMENT_TIMEOUT_SECONDS", "0", "must be greater than 0"),
        ("GALLERY_POOL_SIZE", "ten", "must be a whole number"),
        ("GALLERY_POOL_SIZE", "0", "must be at least 1"),
        ("GALLERY_POOL_MAX_OVERFLOW", "-1", "must not be negative"),
    ],
)
def test_bad_numbers_name_the_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} {message}"):
        Settings.from_env({name: value})
