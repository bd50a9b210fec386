from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gallery_analytics.config import (
    PoolSettings,
    Settings,
    mask_url,
    normalise_url,
)
from gallery_analytics.db.embedded import EmbeddedPostgres, find_postgres_binaries
from gallery_analytics.errors import ConfigurationError, EmbeddedServerError

SECRET = f"Pw{secrets.token_hex(8)}"
PRIMARY = f"postgresql://analyst:{SECRET}@primary.example/gallery"


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
    assert settings == Settings()


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


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "GALLERY_DATABASE_URL": "postgres://u@primary/db",
            "GALLERY_READ_DATABASE_URL": "postgresql://u@replica/db",
            "GALLERY_ADMIN_DATABASE_URL": "postgresql+psycopg://owner@primary/db",
            "GALLERY_EMBEDDED_DIR": "~/gallery-data",
            "GALLERY_STATEMENT_TIMEOUT_SECONDS": "2.5",
            "GALLERY_POOL_SIZE": " 3 ",
            "GALLERY_POOL_MAX_OVERFLOW": "2",
            "GALLERY_POOL_TIMEOUT_SECONDS": "7",
            "GALLERY_TODAY": "2025-11-15",
            "GALLERY_PG_BINDIR": "/opt/pg/bin",
            "GALLERY_PG_SYSTEM_USER": "postgres-runner",
        }
    )
    assert settings.database_url is not None
    assert settings.database_url.drivername == "postgresql+asyncpg"
    assert settings.schema_owner_url is not None
    assert settings.schema_owner_url.username == "owner"
    assert settings.schema_owner_url.drivername == "postgresql+asyncpg"
    assert settings.embedded_dir == Path("~/gallery-data").expanduser()
    assert settings.statement_timeout_seconds == 2.5
    assert settings.pool == PoolSettings(size=3, max_overflow=2, timeout_seconds=7.0)
    assert settings.today == dt.date(2025, 11, 15)
    assert settings.pg_bindir == Path("/opt/pg/bin")
    assert settings.pg_system_user == "postgres-runner"


def test_blank_values_mean_not_set() -> None:
    blank = {
        "GALLERY_DATABASE_URL": "  ",
        "GALLERY_POOL_SIZE": "",
        "GALLERY_STATEMENT_TIMEOUT_SECONDS": " ",
        "GALLERY_TODAY": "\t",
    }
    assert Settings.from_env(blank) == Settings()


def test_a_replica_without_a_primary_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="GALLERY_DATABASE_URL is not"):
        Settings.from_env({"GALLERY_READ_DATABASE_URL": "postgresql://u@replica/db"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GALLERY_STATEMENT_TIMEOUT_SECONDS", "soon", "must be a number"),
        ("GALLERY_STATEMENT_TIMEOUT_SECONDS", "0", "must be at least 0.001"),
        ("GALLERY_POOL_SIZE", "ten", "must be a whole number"),
        ("GALLERY_POOL_SIZE", "0", "must be at least 1"),
        ("GALLERY_POOL_MAX_OVERFLOW", "-1", "must not be negative"),
    ],
)
def test_bad_numbers_name_the_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} {message}"):
        Settings.from_env({name: value})


def test_a_bad_value_is_one_line_with_the_value() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"GALLERY_POOL_SIZE": "0"})
    assert str(caught.value) == "GALLERY_POOL_SIZE must be at least 1, got '0'"


# Every setting with values it must refuse. URL settings carry a password that must
# never reach the message; the primary is set so the dependent URLs are checked alone.
BAD_VALUES: dict[str, list[str]] = {
    "GALLERY_DATABASE_URL": [
        f"postgresql://analyst:{SECRET}@h:port/db",
        f"postgresql://analyst:{SECRET}@h:99999/db",
        f"mysql://analyst:{SECRET}@h/db",
        f"not a url {SECRET}",
        f"postgresql://analyst@h:70000/db?password={SECRET}",
    ],
    "GALLERY_READ_DATABASE_URL": [
        f"postgresql://reader:{SECRET}@h:0/db",
        f"sqlite:///{SECRET}.db",
    ],
    "GALLERY_ADMIN_DATABASE_URL": [
        f"postgresql://owner:{SECRET}@h:port/db",
        f"oracle://owner:{SECRET}@h/db",
    ],
    "GALLERY_STATEMENT_TIMEOUT_SECONDS": ["soon", "0", "-1", "inf", "nan", "1e999"],
    "GALLERY_EXTRACT_TIMEOUT_SECONDS": ["soon", "0", "-1", "inf", "nan", "1e999"],
    "GALLERY_POOL_SIZE": ["0", "-3", "1.5", "ten", "9" * 5000],
    "GALLERY_POOL_MAX_OVERFLOW": ["-1", "x", "2.5"],
    "GALLERY_POOL_TIMEOUT_SECONDS": ["0", "-0.5", "later", "-inf"],
    "GALLERY_TODAY": ["2025-13-01", "2024-02-30", "yesterday", "1700000000", "15/11/2025"],
    "GALLERY_API_PUBLIC_READS": ["maybe", "2", "yes please"],
    "GALLERY_API_MAX_UPLOAD_BYTES": ["0", "1023", "-5", "lots", "1.5"],
    "GALLERY_REPLICA_DATABASE_URL": [
        f"postgresql://reader:{SECRET}@replica:port/db",
        f"mysql://reader:{SECRET}@replica/db",
    ],
    "GALLERY_REPLICA_MAX_LAG_SECONDS": ["0", "-1", "inf", "behind"],
    "GALLERY_READ_YOUR_WRITES_WAIT_SECONDS": ["-0.1", "61", "nan", "a while"],
    "GALLERY_CACHE_URL": [
        f"memcached://cache:{SECRET}@h:11211",
        f"http://u:{SECRET}@redis:6379",
        f"localhost:6379/{SECRET}",
    ],
    "GALLERY_CACHE_TTL_SECONDS": ["0", "-5", "forever", "inf"],
}
PASSWORDLESS_VARIABLES = {"GALLERY_EMBEDDED_DIR", "GALLERY_PG_BINDIR", "GALLERY_PG_SYSTEM_USER"}


def _variables() -> set[str]:
    """Every GALLERY_* variable, derived from the fields (pool fields flattened)."""
    names = {f"GALLERY_{name.upper()}" for name in Settings.model_fields if name != "pool"}
    names |= {f"GALLERY_POOL_{name.upper()}" for name in PoolSettings.model_fields}
    return names


def test_the_bad_value_table_covers_every_setting() -> None:
    optional_extras = {"GALLERY_POOL_RECYCLE_SECONDS", "GALLERY_POOL_PRE_PING"}
    assert set(BAD_VALUES) | PASSWORDLESS_VARIABLES | optional_extras == _variables()


def _environment(name: str, value: str) -> dict[str, str]:
    environ = {name: value}
    if name != "GALLERY_DATABASE_URL":
        environ["GALLERY_DATABASE_URL"] = PRIMARY
    return environ


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, value) for name, values in BAD_VALUES.items() for value in values],
    ids=lambda v: v[:30],
)
def test_every_bad_value_names_its_variable_and_hides_passwords(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(_environment(name, value))
    message = str(caught.value)
    assert message.startswith(f"{name} "), message
    assert "\n" not in message
    assert SECRET not in message
    assert "input_value" not in message
    assert caught.value.__cause__ is None


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(_variables())),
    text=st.text(max_size=40).map(lambda t: t.replace("\x00", "")),
    embed_secret=st.booleans(),
)
def test_any_value_is_accepted_or_one_clear_line(name: str, text: str, embed_secret: bool) -> None:
    """Whatever text a variable holds: settings, or a ConfigurationError naming it; a URL
    value (which may hold a password) is never repeated."""
    if embed_secret and name.endswith("_URL"):
        text = f"postgresql://u:{SECRET}@{text}"
    try:
        Settings.from_env(_environment(name, text))
    except ConfigurationError as error:
        message = str(error)
        assert message.startswith(f"{name} "), message
        assert "\n" not in message
        assert SECRET not in message


def test_settings_built_in_code_raise_the_same_errors() -> None:
    with pytest.raises(ConfigurationError, match="GALLERY_POOL_SIZE must be at least 1, got 0"):
        PoolSettings(size=0)
    with pytest.raises(ConfigurationError, match="GALLERY_STATEMENT_TIMEOUT_SECONDS"):
        Settings(statement_timeout_seconds=-1)
    with pytest.raises(ConfigurationError, match="GALLERY_READ_DATABASE_URL is set"):
        Settings(read_database_url=normalise_url("postgresql://u@replica/db"))


def test_settings_are_immutable() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.statement_timeout_seconds = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        settings.pool.size = 1  # type: ignore[misc]


def test_repr_masks_every_password() -> None:
    settings = Settings.from_env(
        {"GALLERY_DATABASE_URL": f"postgresql://u:{SECRET}@h/db?sslpassword={SECRET}"}
    )
    assert SECRET not in repr(settings)
    assert "***" in repr(settings)


# -- the .env file -----------------------------------------------------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current directory of our own, and no GALLERY_* variable from this process."""
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("GALLERY_")]:
        monkeypatch.delenv(name)
    return tmp_path


def test_a_dotenv_file_in_the_current_directory_is_read(in_tmp: Path) -> None:
    (in_tmp / ".env").write_text(
        "# local settings\n"
        f"GALLERY_DATABASE_URL={PRIMARY}\n"
        "GALLERY_POOL_SIZE=4\n"
        "GALLERY_POOL_TIMEOUT_SECONDS=3\n"
        "GALLERY_TODAY=2025-11-15\n"
        "UNRELATED=1\n"
        "GALLERY_NOT_A_SETTING=1\n",
        encoding="utf-8",
    )
    settings = Settings.from_env()
    assert settings.database_url is not None
    assert settings.database_url.host == "primary.example"
    assert settings.pool.size == 4
    assert settings.pool.timeout_seconds == 3.0
    assert settings.today == dt.date(2025, 11, 15)


def test_the_environment_wins_over_the_dotenv_file(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (in_tmp / ".env").write_text(
        "GALLERY_POOL_SIZE=4\nGALLERY_POOL_MAX_OVERFLOW=2\nGALLERY_TODAY=2025-11-15\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("GALLERY_POOL_SIZE", "6")
    monkeypatch.setenv("GALLERY_TODAY", "2024-01-31")
    settings = Settings.from_env()
    assert settings.pool.size == 6  # the environment
    assert settings.pool.max_overflow == 2  # the file, for what the environment leaves
    assert settings.today == dt.date(2024, 1, 31)


def test_a_bad_value_in_the_dotenv_file_names_the_variable(in_tmp: Path) -> None:
    (in_tmp / ".env").write_text(
        f"GALLERY_DATABASE_URL=postgresql://u:{SECRET}@h:port/db\n", encoding="utf-8"
    )
    with pytest.raises(ConfigurationError, match="GALLERY_DATABASE_URL") as caught:
        Settings.from_env()
    assert SECRET not in str(caught.value)


def test_only_from_env_reads_the_environment(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built in code (tests, Database(url)) never depend on the shell or .env;
    an explicit mapping is the whole environment."""
    (in_tmp / ".env").write_text("GALLERY_POOL_SIZE=4\n", encoding="utf-8")
    monkeypatch.setenv("GALLERY_STATEMENT_TIMEOUT_SECONDS", "5")
    assert Settings() == Settings.from_env({})
    assert Settings().pool.size == 10
    assert Settings.from_env({"GALLERY_TODAY": "2025-01-01"}).statement_timeout_seconds == 30.0


def test_embedded_dir_and_binaries_come_from_the_settings(in_tmp: Path) -> None:
    (in_tmp / ".env").write_text(
        f"GALLERY_EMBEDDED_DIR={in_tmp / 'data'}\nGALLERY_PG_BINDIR={in_tmp / 'bin'}\n",
        encoding="utf-8",
    )
    settings = Settings.from_env()
    assert EmbeddedPostgres(settings=settings).base_dir == in_tmp / "data"
    with pytest.raises(EmbeddedServerError, match=f"GALLERY_PG_BINDIR={in_tmp / 'bin'}"):
        find_postgres_binaries(settings.pg_bindir)


@pytest.fixture
def dotenv_here(in_tmp: Path) -> Path:
    path = in_tmp / ".env"
    path.write_text("GALLERY_POOL_SIZE=4\n", encoding="utf-8")
    return path


async def test_settings_built_in_async_code_touch_no_file(dotenv_here: Path) -> None:
    """Database(url) builds Settings() on the event loop: no .env lookup there (the
    autouse blockbuster fixture fails the test on a blocking stat or read)."""
    assert Settings(statement_timeout_seconds=5).pool.size == 10
