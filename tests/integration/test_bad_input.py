"""Bad input against a real PostgreSQL: what only a database can answer.

The malformed values themselves (wrong types, malformed ids, empty strings, huge
numbers, reversed ranges, unknown enum values, NUL characters...) are in
tests/unit/services/bad_values.py, and tests/unit/services/test_input_validation.py
proves each is refused before any I/O. Here:

- unknown but well-formed ids, users and mediums: a :class:`NotFoundError` or a
  :class:`ValidationError` saying no row has it;
- a sample of the refused cases, on a real database: the pool still healthy afterwards
  (no connection left checked out, and a normal query still works), and for writes
  nothing written (table checksums before and after, on a private database);
- report parameters only a database can refuse (an unknown user or medium), and
  SQL-injection text stored verbatim;
- for the CLI: exit code 2, one ``error: ...`` line on stderr, no traceback;
- extreme dates that reach the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import URL

from gallery_analytics import CatalogService, DashboardService, NotFoundError, ValidationError
from gallery_analytics.cli import main
from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Exhibition, User
from gallery_analytics.errors import DatabaseError, GalleryAnalyticsError, ReadOnlyError
from gallery_analytics.frames import extract_frame
from gallery_analytics.reports import check_parameters
from tests.conftest import _clone, run_cli
from tests.helpers import count_rows, table_checksums
from tests.unit.services.bad_values import (
    ARTIST,
    ARTWORK,
    BAD_DAYS,
    BAD_LIMITS,
    BY_NAME,
    CREATE_CASES,
    DROP,
    FILTER_CASES,
    FILTERS_NEEDING_THE_DATABASE,
    GETTER_NAMES,
    HUGE,
    INT64_OVERFLOW,
    NIL,
    NON_UTF8,
    NUL,
    OR_TRUE,
    REPORT_CASES,
    REPORT_CASES_AFTER_CONNECTING,
    SHOW,
    SURROGATES,
    USER_LISTS,
    assert_names,
    only,
)

# -- helpers ----------------------------------------------------------------------------------


async def assert_healthy(db: Database) -> None:
    """No connection left checked out, and a normal query still succeeds."""
    assert db.pool_status()["checked_out"] == 0
    async with db.read_session() as session:
        assert await session.scalar(select(User.id).order_by(User.email).limit(1)) is not None
    assert db.pool_status()["checked_out"] == 0


async def rejected(
    db: Database,
    call: Callable[[], Awaitable[object]],
    field: str | None,
    *,
    kind: type[BaseException] = ValidationError,
    check_writes: bool = False,
) -> BaseException:
    """Await ``call``, expect ``kind`` (naming ``field`` if a ValidationError), then check
    that nothing was written (``check_writes``) and that ``db`` is still healthy."""
    before = await table_checksums(db) if check_writes else None
    with pytest.raises(GalleryAnalyticsError) as caught:
        await call()
    assert isinstance(caught.value, kind), f"{type(caught.value).__name__}: {caught.value}"
    if kind is ValidationError:
        assert_names(caught.value, field)
    if before is not None:
        assert await table_checksums(db) == before
    await assert_healthy(db)
    return caught.value


@dataclass(frozen=True)
class Known:
    user_id: str
    exhibition_day: dt.date


@pytest.fixture(scope="module")
async def known(seeded_db: Database) -> Known:
    """Ids and values that exist in the small demo dataset."""
    async with seeded_db.read_session() as session:
        user_id = await session.scalar(select(User.id).order_by(User.email).limit(1))
        day = await session.scalar(select(Exhibition.starts_on).limit(1))
    return Known(user_id=str(user_id), exhibition_day=day)


# -- unknown but well-formed ids -------------------------------------------------------------


@pytest.mark.parametrize("method", GETTER_NAMES)
async def test_get_unknown_id_is_not_found(seeded_db: Database, method: str) -> None:
    service = CatalogService(seeded_db)
    error = await rejected(
        seeded_db, lambda: getattr(service, method)(NIL), None, kind=NotFoundError
    )
    assert NIL in str(error)


@pytest.mark.parametrize("method", USER_LISTS)
async def test_lists_of_an_unknown_user_are_not_found(seeded_db: Database, method: str) -> None:
    service = CatalogService(seeded_db)
    await rejected(
        seeded_db, lambda: getattr(service, method)(user_id=NIL), None, kind=NotFoundError
    )


# -- a sample of the cases refused before any I/O (all of them: the unit suite) --------------

Call = Callable[[Database, Known], Awaitable[object]]
REFUSED_SAMPLE: list[Any] = [
    pytest.param(
        lambda db, k: CatalogService(db).get_user(DROP), "user_id", id="get_user-sql-drop"
    ),
    pytest.param(
        lambda db, k: CatalogService(db).get_artwork(NUL), "artwork_id", id="get_artwork-nul"
    ),
    pytest.param(
        lambda db, k: CatalogService(db).list_artists(user_id=NON_UTF8),
        "user_id",
        id="list_artists-user-non-utf8",
    ),
    pytest.param(
        lambda db, k: CatalogService(db).list_artworks(user_id=k.user_id, limit=INT64_OVERFLOW),
        "limit",
        id="list_artworks-limit-2**63",
    ),
    pytest.param(
        lambda db, k: CatalogService(db).list_users(limit=DROP), "limit", id="list_users-sql-drop"
    ),
    pytest.param(
        lambda db, k: CatalogService(db).find_active_exhibitions(on="2024-01-01"),
        "on",
        id="find_active_exhibitions-iso-str",
    ),
    pytest.param(
        lambda db, k: CatalogService(db).find_active_exhibitions(on=k.exhibition_day, user_id=DROP),
        "user_id",
        id="find_active_exhibitions-curator-sql-drop",
    ),
    pytest.param(
        lambda db, k: DashboardService(db).check_filters({"mediums": ["Print"] * 101}),
        "mediums",
        id="check_filters-mediums-too-many",
    ),
    pytest.param(
        lambda db, k: DashboardService(db).get_gallery_overview({"top_n": INT64_OVERFLOW}),
        "top_n",
        id="get_gallery_overview-top-n-2**63",
    ),
    pytest.param(
        lambda db, k: DashboardService(db).get_gallery_overview(panels=[DROP]),
        "panels",
        id="get_gallery_overview-panels-sql-drop",
    ),
    pytest.param(
        lambda db, k: DashboardService(db).get_gallery_overview(
            panels=["key_figures"], timeouts={"key_figures": float("nan")}
        ),
        "timeouts.key_figures",
        id="get_gallery_overview-timeouts-nan",
    ),
    pytest.param(
        lambda db, k: DashboardService(db).get_user_dashboard(""),
        "user_id",
        id="get_user_dashboard-user-empty",
    ),
    pytest.param(lambda db, k: extract_frame(db, "   "), "query", id="extract_frame-query-blank"),
    pytest.param(
        lambda db, k: extract_frame(db, "SELECT :value"),
        "params",
        id="extract_frame-params-missing",
    ),
    pytest.param(
        lambda db, k: check_parameters(db, {"start": "2024-02-30"}),
        "start",
        id="check_parameters-start-feb-30",
    ),
]


@pytest.mark.parametrize(("call", "field"), REFUSED_SAMPLE)
async def test_refused_input_leaves_the_database_healthy(
    seeded_db: Database, known: Known, call: Call, field: str
) -> None:
    await rejected(seeded_db, lambda: call(seeded_db, known), field)


@pytest.mark.parametrize(
    ("case", "field"),
    only(
        CREATE_CASES,
        {
            "user-email-sql-drop",
            "user-name-nul",
            "artist-dies-before-birth",
            "show-reversed",
            "pair-status-unknown",
            "pair-artwork-title-nul",
            "pair-artwork-medium-nul",
        },
    ),
)
async def test_create_rejects_bad_input_and_writes_nothing(
    fresh_db: Database, case: dict[str, Any], field: str
) -> None:
    """A sample of the create cases (all of them: the unit suite), on a private database:
    nothing written (for create_artist_with_artwork the artist would be flushed before the
    artwork), the pool clean."""
    async with fresh_db.read_session() as session:
        user_id = str(await session.scalar(select(User.id).order_by(User.email).limit(1)))
    arguments = {k: user_id if v == "<user>" else v for k, v in case.items() if k != "method"}
    method = getattr(CatalogService(fresh_db), case["method"])
    await rejected(fresh_db, lambda: method(**arguments), field, check_writes=True)


@pytest.mark.parametrize(
    "method", ["create_artist", "create_exhibition", "create_artist_with_artwork"]
)
async def test_create_for_an_unknown_user_is_not_found_and_writes_nothing(
    fresh_db: Database, method: str
) -> None:
    service = CatalogService(fresh_db)
    calls = {
        "create_artist": lambda: service.create_artist(owner_id=NIL, artist=ARTIST),
        "create_exhibition": lambda: service.create_exhibition(curator_id=NIL, exhibition=SHOW),
        "create_artist_with_artwork": lambda: service.create_artist_with_artwork(
            owner_id=NIL, artist=ARTIST, artwork=ARTWORK
        ),
    }
    await rejected(fresh_db, calls[method], None, kind=NotFoundError, check_writes=True)


@pytest.mark.parametrize("value", [DROP, OR_TRUE, "Robert'); DROP TABLE artists;--"])
async def test_sql_injection_text_is_stored_verbatim(fresh_db: Database, value: str) -> None:
    """Injection strings are legitimate text: stored as given, nothing else touched."""
    before = await table_checksums(fresh_db)
    service = CatalogService(fresh_db)
    user = await service.create_user(email="bobby.tables@example.org", display_name=value)
    artist = await service.create_artist(owner_id=user.id, artist={"name": value})
    assert (await service.get_user(user.id)).display_name == value
    assert (await service.get_artist(artist.id)).name == value
    after = await table_checksums(fresh_db)
    assert {t for t in before if before[t] != after[t]} == {"users", "artists"}
    assert await count_rows(fresh_db, "users", "display_name = :v", v=value) == 1
    await assert_healthy(fresh_db)


# -- DashboardService -------------------------------------------------------------------------


@pytest.mark.parametrize(("filters", "field"), only(FILTER_CASES, FILTERS_NEEDING_THE_DATABASE))
@pytest.mark.parametrize("entry", ["check_filters", "get_gallery_overview"])
async def test_overview_filters_naming_unknown_rows_are_rejected(
    seeded_db: Database, entry: str, filters: object, field: str
) -> None:
    service = DashboardService(seeded_db)
    await rejected(seeded_db, lambda: getattr(service, entry)(filters), field)


async def test_user_dashboard_of_an_unknown_user_is_not_found(seeded_db: Database) -> None:
    service = DashboardService(seeded_db)
    await rejected(seeded_db, lambda: service.get_user_dashboard(NIL), None, kind=NotFoundError)


@pytest.mark.parametrize("bad", [p for p in BAD_DAYS if p.id != "none"])
async def test_user_dashboard_rejects_bad_days(
    seeded_db: Database, known: Known, bad: object
) -> None:
    """Refused before the four concurrent loads start (tests/unit/services has the no-I/O
    check); here, with a real database, nothing is left checked out."""
    service = DashboardService(seeded_db)
    await rejected(seeded_db, lambda: service.get_user_dashboard(known.user_id, on=bad), "on")


@pytest.mark.parametrize("bad", BAD_LIMITS)
async def test_user_dashboard_rejects_bad_limits(
    seeded_db: Database, known: Known, bad: object
) -> None:
    service = DashboardService(seeded_db)
    await rejected(seeded_db, lambda: service.get_user_dashboard(known.user_id, limit=bad), "limit")


# -- extract_frame ----------------------------------------------------------------------------


# Values of the wrong type for what the server expects: only the server knows the type,
# so a DatabaseError (with the server's or the encoder's one-line message) is the answer.
MISTYPED_PARAMS = [
    pytest.param(BY_NAME, {"value": HUGE}, id="int-for-text-10**30"),
    pytest.param(BY_NAME, {"value": NON_UTF8}, id="bytes-for-text"),
    pytest.param(
        "SELECT CAST(:value AS bigint) AS v", {"value": INT64_OVERFLOW}, id="2**63-bigint"
    ),
    pytest.param("SELECT CAST(:value AS uuid) AS v", {"value": DROP}, id="sql-drop-for-uuid"),
    pytest.param("SELECT CAST(:value AS date) AS v", {"value": "2024-02-30"}, id="str-for-date"),
    pytest.param("SELECT CAST(:value AS int) AS v", {"value": OR_TRUE}, id="sql-or-true-for-int"),
    pytest.param("SELEC 1", None, id="syntax-error"),
    pytest.param("SELECT 1; DROP TABLE users", None, id="stacked-statements"),
]


@pytest.mark.parametrize(("query", "params"), MISTYPED_PARAMS)
async def test_extract_frame_mistyped_params_are_database_errors(
    fresh_db: Database, query: str, params: dict[str, object] | None
) -> None:
    error = await rejected(
        fresh_db,
        lambda: extract_frame(fresh_db, query, params),
        None,
        kind=DatabaseError,
        check_writes=True,
    )
    assert "\n" not in str(error)
    assert await count_rows(fresh_db, "users") > 0


@pytest.mark.parametrize(
    "statement", ["DROP TABLE users", "DELETE FROM users", "TRUNCATE users CASCADE"]
)
async def test_extract_frame_refuses_statements_that_return_no_rows(
    fresh_db: Database, statement: str
) -> None:
    """Prepared (never run) and refused as a query that gives no columns; nothing changes."""
    error = await rejected(
        fresh_db, lambda: extract_frame(fresh_db, statement), "query", check_writes=True
    )
    assert "returns no columns" in str(error)
    assert await count_rows(fresh_db, "users") > 0


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM users RETURNING id",
        "UPDATE users SET email = 'x' RETURNING id",
        "INSERT INTO users (email) VALUES ('x') RETURNING id",
        "-- a note first\n/* and another */ delete from users returning id",
        "WITH doomed AS (SELECT id FROM users) DELETE FROM users RETURNING id",
        "WITH gone AS (DELETE FROM users RETURNING id) SELECT * FROM gone",
    ],
)
async def test_extract_frame_cannot_write(fresh_db: Database, statement: str) -> None:
    """A statement that changes data and returns rows is refused before it runs, as a
    write through a read (it cannot be a query's rows; the read role could not run it)."""
    error = await rejected(
        fresh_db,
        lambda: extract_frame(fresh_db, statement),
        None,
        kind=ReadOnlyError,
        check_writes=True,
    )
    assert "write_session" in str(error)


@pytest.mark.parametrize("statement", ["EXPLAIN SELECT 1", "SHOW work_mem"])
async def test_extract_frame_refuses_statements_that_are_not_rows(
    fresh_db: Database, statement: str
) -> None:
    await rejected(fresh_db, lambda: extract_frame(fresh_db, statement), "query")


@pytest.mark.parametrize("value", [DROP, OR_TRUE, "') TO PROGRAM 'touch /tmp/x'; --"])
async def test_extract_frame_params_are_never_sql(fresh_db: Database, value: str) -> None:
    """COPY cannot take parameters, so values are inlined: with the server's quoting."""
    before = await table_checksums(fresh_db)
    frame = await extract_frame(fresh_db, BY_NAME, {"value": value})
    assert frame["n"].tolist() == [0]
    echoed = await extract_frame(fresh_db, "SELECT CAST(:value AS text) AS v", {"value": value})
    assert echoed["v"].tolist() == [value]
    assert await table_checksums(fresh_db) == before
    await assert_healthy(fresh_db)


# -- reports.check_parameters -----------------------------------------------------------------


@pytest.mark.parametrize(("raw", "field"), only(REPORT_CASES, REPORT_CASES_AFTER_CONNECTING))
async def test_check_parameters_rejects_bad_input(
    seeded_db: Database, raw: object, field: str | None
) -> None:
    await rejected(seeded_db, lambda: check_parameters(seeded_db, raw), field)  # type: ignore[arg-type]


# -- the CLI ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def cli_db(server_url: URL, template_database: str) -> AsyncIterator[Database]:
    """One writable copy of the demo data that every CLI case points at."""
    async for db in _clone(server_url, template_database, "gallery_cli"):
        yield db


def assert_cli_error(returncode: object, stderr: str, field: str) -> None:
    """Exit code 2 and exactly one ``error:`` line naming ``field``."""
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if "error: " in line]
    assert len(errors) == 1, stderr
    assert lines == errors, stderr
    if field.startswith("--"):  # a usage error, reported by Typer for the option
        assert errors[0].startswith(f"error: Invalid value for '{field}': "), stderr
    else:  # the library's ValidationError
        assert errors[0].startswith(f"error: {field}"), stderr


CLI_CASES = [
    pytest.param(["seed", "--size", "huge"], "--size", id="seed-size-unknown"),
    pytest.param(["seed", "--size", ""], "--size", id="seed-size-empty"),
    pytest.param(["seed", "--size", "small; DROP TABLE users"], "--size", id="seed-size-sql"),
    pytest.param(["seed", "--seed", "-1"], "--seed", id="seed-negative"),
    pytest.param(["seed", "--seed", str(HUGE)], "--seed", id="seed-10**30"),
    pytest.param(["seed", "--seed", str(INT64_OVERFLOW)], "--seed", id="seed-2**63"),
    pytest.param(["seed", "--seed", "1.5"], "--seed", id="seed-fraction"),
    pytest.param(["seed", "--seed", ""], "--seed", id="seed-empty"),
    pytest.param(["seed", "--seed", DROP], "--seed", id="seed-sql-drop"),
    pytest.param(["seed", "--seed", SURROGATES], "--seed", id="seed-non-utf8"),
    pytest.param(["seed", "--seed", "9" * 5000], "--seed", id="seed-5000-digits"),
    pytest.param(["summary", "--on", "2024-02-30"], "--on", id="summary-feb-30"),
    pytest.param(["summary", "--on", ""], "--on", id="summary-empty"),
    pytest.param(["summary", "--on", OR_TRUE], "--on", id="summary-sql-or-true"),
    pytest.param(["summary", "--on", "2024-01-01T00:00:00"], "--on", id="summary-datetime"),
    pytest.param(["summary", "--on", SURROGATES], "--on", id="summary-non-utf8"),
    pytest.param(["report", "--param", "start=bad"], "start", id="report-start-text"),
    pytest.param(["report", "--param", "end=2024-13-01"], "end", id="report-end-month-13"),
    pytest.param(["report", "--param", "nokey"], "param", id="report-no-equals"),
    pytest.param(["report", "--param", "=2024-01-01"], "param", id="report-no-name"),
    pytest.param(["report", "--param", "colour=red"], "colour", id="report-unknown-name"),
    pytest.param(
        ["report", "--param", "start=2024-06-30", "--param", "end=2024-01-01"],
        "end",
        id="report-reversed-range",
    ),
    pytest.param(
        ["report", "--param", "medium=Print", "--param", "medium=Print"],
        "medium",
        id="report-duplicate",
    ),
    pytest.param(["report", "--param", f"user_id={OR_TRUE}"], "user_id", id="report-user-sql"),
    pytest.param(["report", "--param", f"user_id={NIL}"], "user_id", id="report-user-unknown"),
    pytest.param(["report", "--param", f"medium={DROP}"], "mediums", id="report-medium-sql"),
    pytest.param(["report", "--param", f"start={SURROGATES}"], "start", id="report-start-non-utf8"),
    pytest.param(
        ["report", "--param", f"medium={SURROGATES}"], "mediums", id="report-medium-non-utf8"
    ),
    # (an unknown *name* with non-UTF-8 bytes is echoed raw: a real stderr escapes it, while
    # capsys would refuse to encode it, so that case runs as a subprocess only, below)
    pytest.param(["report", "--out", "<tmp>/report.txt"], "out", id="report-out-not-html"),
    pytest.param(
        ["report", "--notebook", "<tmp>/missing.ipynb"], "notebook", id="report-no-notebook"
    ),
]


def _call_main(argv: list[str]) -> object:
    return main(argv)  # an exit code, usage errors included (no SystemExit)


@pytest.mark.parametrize(("argv", "field"), CLI_CASES)
async def test_cli_rejects_bad_arguments(
    cli_db: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    field: str,
) -> None:
    """``main()`` in this process (a worker thread runs its event loop): the whole matrix."""
    for name in [name for name in os.environ if name.startswith("GALLERY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GALLERY_DATABASE_URL", cli_db.url.render_as_string(hide_password=False))
    monkeypatch.setenv(
        "GALLERY_READ_DATABASE_URL", cli_db.read_url.render_as_string(hide_password=False)
    )
    argv = [arg.replace("<tmp>", str(tmp_path)) for arg in argv]
    if argv[0] == "report" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "report.html")]
    before = await table_checksums(cli_db)
    capsys.readouterr()

    returncode = await asyncio.to_thread(_call_main, argv)

    captured = capsys.readouterr()
    assert_cli_error(returncode, captured.err, field)
    assert captured.out == ""
    assert await asyncio.to_thread(os.listdir, tmp_path) == []  # no report, no notebook
    assert await table_checksums(cli_db) == before
    await assert_healthy(cli_db)


# The same contract through a real subprocess, for a few cases (each costs ~2 s of CPU,
# mostly imports); they run concurrently, once, in a module fixture.
SUBPROCESS_CASES = {
    "seed-size-sql": (["seed", "--size", "small; DROP TABLE users"], "--size"),
    "seed-2**63": (["seed", "--seed", str(INT64_OVERFLOW)], "--seed"),
    "summary-non-utf8": (["summary", "--on", SURROGATES], "--on"),
    "report-reversed-range": (
        ["report", "--param", "start=2024-06-30", "--param", "end=2024-01-01"],
        "end",
    ),
    "report-medium-sql": (["report", "--param", f"medium={DROP}"], "mediums"),
    # echoed as Python's stderr writes undecodable bytes: backslash escapes
    "report-name-non-utf8": (["report", "--param", f"{SURROGATES}=1"], r"\udcff\udcfe"),
}


@dataclass(frozen=True)
class SubprocessRuns:
    results: dict[str, Any]
    workdirs: dict[str, Path]
    before: dict[str, str]
    after: dict[str, str]


@pytest.fixture(scope="module")
async def subprocess_runs(
    cli_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> SubprocessRuns:
    before = await table_checksums(cli_db)
    workdirs = {name: tmp_path_factory.mktemp("cli") for name in SUBPROCESS_CASES}
    slots = asyncio.Semaphore(os.cpu_count() or 2)

    async def run(name: str) -> Any:
        async with slots:
            return await asyncio.to_thread(
                run_cli,
                *SUBPROCESS_CASES[name][0],
                database_url=cli_db.url,
                cwd=workdirs[name],
                timeout=120,
            )

    outcomes = await asyncio.gather(*(run(name) for name in SUBPROCESS_CASES))
    return SubprocessRuns(
        results=dict(zip(SUBPROCESS_CASES, outcomes, strict=True)),
        workdirs=workdirs,
        before=before,
        after=await table_checksums(cli_db),
    )


@pytest.mark.parametrize("name", list(SUBPROCESS_CASES))
async def test_cli_subprocess_rejects_bad_arguments(
    cli_db: Database, subprocess_runs: SubprocessRuns, name: str
) -> None:
    result = subprocess_runs.results[name]
    assert_cli_error(result.returncode, result.stderr, SUBPROCESS_CASES[name][1])
    assert result.stdout == ""
    assert await asyncio.to_thread(os.listdir, subprocess_runs.workdirs[name]) == []
    assert subprocess_runs.after == subprocess_runs.before
    await assert_healthy(cli_db)


# -- extreme dates, at every entry point that takes a date ------------------------------------

# The edges of what Python's date can hold, and dates around them. A date is either
# answered (every panel computed) or refused with a ValidationError naming the field;
# never an OverflowError from ``end + 1 day`` or a driver error.
EXTREME_DATES = [
    dt.date.min,
    dt.date.min + dt.timedelta(days=1),
    dt.date(1582, 10, 10),  # a day the Gregorian reform skipped; proleptic in both
    dt.date(9999, 12, 30),
    dt.date.max,
]
EXTREME_IDS = [d.isoformat() for d in EXTREME_DATES]


def _answered_or_refused(outcome: object | BaseException, fields: tuple[str, ...]) -> None:
    if isinstance(outcome, BaseException):
        assert_names(outcome, None)
        assert isinstance(outcome, ValidationError)
        assert outcome.field in fields, outcome.field
        assert "9999-12-30" in str(outcome)  # says what would do


async def _outcome(call: Callable[[], Awaitable[object]]) -> object | BaseException:
    try:
        return await call()
    except GalleryAnalyticsError as exc:  # anything else fails the test
        return exc


@pytest.mark.parametrize("field", ["start", "end"])
@pytest.mark.parametrize("day", EXTREME_DATES, ids=EXTREME_IDS)
async def test_overview_with_extreme_dates_answers_or_names_the_field(
    seeded_db: Database, field: str, day: dt.date
) -> None:
    other = {"start": dt.date.min, "end": dt.date(9999, 12, 30)}
    filters = {**other, field: day}
    if filters["end"] < filters["start"]:
        filters["start"] = filters["end"]
    service = DashboardService(seeded_db)
    for call in (
        lambda: service.get_gallery_overview(filters),
        lambda: service.get_gallery_overview({field: day}),
        lambda: service.check_filters({field: day}),
    ):
        outcome = await _outcome(call)
        _answered_or_refused(outcome, ("start", "end"))
        if not isinstance(outcome, BaseException) and hasattr(outcome, "failed"):
            assert outcome.failed == [], [p.error for p in outcome.failed]
    await assert_healthy(seeded_db)


@pytest.mark.parametrize("day", EXTREME_DATES, ids=EXTREME_IDS)
async def test_report_parameters_with_extreme_dates_answer_or_name_the_field(
    seeded_db: Database, day: dt.date
) -> None:
    for raw in (
        {"start": day.isoformat(), "end": "9999-12-30"},
        {"start": "0001-01-01", "end": day.isoformat()},
    ):
        outcome = await _outcome(lambda raw=raw: check_parameters(seeded_db, raw))
        _answered_or_refused(outcome, ("start", "end"))


@pytest.mark.parametrize("day", EXTREME_DATES, ids=EXTREME_IDS)
async def test_single_day_entry_points_take_extreme_dates(
    seeded_db: Database, known: Known, day: dt.date
) -> None:
    """``on`` is compared as a date, never shifted: every representable day is answered."""
    from gallery_analytics.services.summary import SummaryService

    summary = await SummaryService(seeded_db).get_summary(on=day)
    assert summary.on == day
    assert isinstance(await CatalogService(seeded_db).find_active_exhibitions(on=day), list)
    dashboard = await DashboardService(seeded_db).get_user_dashboard(known.user_id, on=day)
    assert dashboard.on == day
    await assert_healthy(seeded_db)


def test_cli_report_with_the_widest_range_is_one_line(cli_db: Database, tmp_path: Path) -> None:
    """The reproduction of issue 10 #13: 6 of 7 panels failed with OverflowError."""
    out = tmp_path / "wide.html"
    result = run_cli(
        "report",
        "--out",
        str(out),
        "--no-progress",
        "--param",
        "start=0001-01-01",
        "--param",
        "end=9999-12-31",
        database_url=cli_db.url,
    )
    assert_cli_error(result.returncode, result.stderr, "end")
    assert "9999-12-30" in result.stderr
    assert not out.exists()
    assert not out.with_suffix(".ipynb").exists()


# -- the database is still fine after all of the above ----------------------------------------


async def test_seeded_database_is_intact_after_bad_input(seeded_db: Database) -> None:
    """Runs last in this module: no injection string dropped or changed anything."""
    async with seeded_db.read_session() as session:
        tables = set(
            await session.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        )
    assert {"users", "artists", "artworks", "exhibitions", "sales"} <= tables
    assert await count_rows(seeded_db, "users") > 0
    await assert_healthy(seeded_db)
