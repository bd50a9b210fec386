"""Property-based fuzzing of the input checks that need no database.

Each property says what *any* input may produce: either a well-formed value (whose
invariants are checked here) or a :class:`ValidationError` naming the offending field,
never another exception type.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from gallery_analytics.cli import app
from gallery_analytics.demo.generate import SIZES
from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.domain.values import LATEST_DATE, parse_id
from gallery_analytics.errors import GalleryAnalyticsError, ValidationError
from gallery_analytics.reports import PARAMETERS, parse_parameter_pairs

FUZZ = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])

SQL_INJECTIONS = ["x'); DROP TABLE users; --", "' OR 1=1 --", "1; SELECT pg_sleep(10)"]

# -- strategies -------------------------------------------------------------------------------

huge_ints = st.sampled_from([10**30, -(10**30), 2**63, 2**63 - 1, -(2**63), 2**64, 0, -1])
uuid_spellings = st.builds(
    lambda u, style, pad: (
        pad
        + {
            "plain": str(u),
            "upper": str(u).upper(),
            "hex": u.hex,
            "braces": f"{{{u}}}",
            "urn": u.urn,
        }[style]
        + pad
    ),
    st.uuids(),
    st.sampled_from(["plain", "upper", "hex", "braces", "urn"]),
    st.sampled_from(["", " ", "\t", "\n "]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(max_size=20),
    st.sampled_from([*SQL_INJECTIONS, "", "   ", "a\x00b", "\x00", b"\xff\xfe"]),
    st.dates(),
    st.datetimes(),
    st.uuids(),
    uuid_spellings,
)
anything = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.tuples(scalars),
    st.dictionaries(st.text(max_size=5), scalars, max_size=3),
)


def _date_texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.dates().map(dt.date.isoformat),
        st.datetimes().map(dt.datetime.isoformat),
        st.sampled_from(["2024-02-30", "2024-13-01", "20240101", "2024-W01-1", "0000-01-01"]),
    )


FILTER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "start": st.one_of(st.dates(), _date_texts(), anything),
    "end": st.one_of(st.dates(), _date_texts(), anything),
    "mediums": st.one_of(
        st.lists(st.text(max_size=12), max_size=5),
        st.lists(st.sampled_from([" Print", "Print ", "Print", "\tOil\n", ""]), max_size=5),
        anything,
    ),
    "status": st.one_of(st.sampled_from(list(ArtworkStatus)), st.sampled_from(["sold"]), anything),
    "user_id": st.one_of(uuid_spellings, anything),
    "currency": st.one_of(st.sampled_from(["EUR", "USD", "eur", "EURO", "E1R"]), anything),
    "top_n": st.one_of(st.integers(-5, 110), huge_ints, anything),
}
filter_dicts = st.fixed_dictionaries({}, optional=dict(FILTER_VALUES)).flatmap(
    lambda known: st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda name: name not in FILTER_VALUES),
        anything,
        max_size=2,
    ).map(lambda unknown: {**known, **unknown})
)


def _attempt(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, ValidationError | None]:
    """``(result, None)``, or ``(None, error)`` if ``function`` raised a ValidationError;
    any other exception propagates and fails the property."""
    try:
        return function(*args, **kwargs), None
    except ValidationError as error:
        return None, error


def _assert_names_field(error: ValidationError, field: str) -> None:
    assert isinstance(error, GalleryAnalyticsError)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")


# -- parse_id ---------------------------------------------------------------------------------


@FUZZ
@given(value=anything)
@example(value="\u0660" * 32)  # int(..., 16) accepts non-ASCII digits
@example(value="1234567_" * 4)
@example(value="x" * 10_000)
def test_parse_id_returns_canonical_uuid_or_names_the_field(value: object) -> None:
    parsed, error = _attempt(parse_id, value, field="artwork_id")
    if error is not None:
        _assert_names_field(error, "artwork_id")
        return
    assert isinstance(parsed, str)
    assert parsed == str(uuid.UUID(parsed))
    assert parsed == parsed.lower()
    expected = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip())
    assert parsed == str(expected)


@FUZZ
@given(value=uuid_spellings)
def test_parse_id_accepts_every_uuid_spelling(value: str) -> None:
    assert parse_id(value, field="user_id") == str(uuid.UUID(value.strip()))


@FUZZ
@given(value=anything)
@example(value="\x00" * 60)
def test_parse_id_messages_stay_short(value: object) -> None:
    _, error = _attempt(parse_id, value, field="artwork_id")
    if error is not None:
        assert len(str(error)) < 200, str(error)


# -- OverviewFilters.parse --------------------------------------------------------------------


# What pydantic's strip_whitespace removes (Unicode White_Space); Python's str.strip()
# also removes the ASCII separators \x1c-\x1f (see the test below).
_UNICODE_WHITESPACE = "".join(
    char
    for char in map(chr, range(0x3000 + 1))
    if char.isspace() and char not in "\x1c\x1d\x1e\x1f"
)


def _check_filters_invariants(filters: OverviewFilters) -> None:
    for day in (filters.start, filters.end):
        assert day is None or (isinstance(day, dt.date) and not isinstance(day, dt.datetime))
    if filters.start is not None and filters.end is not None:
        assert filters.end >= filters.start
    assert isinstance(filters.mediums, tuple)
    assert len(set(filters.mediums)) == len(filters.mediums)
    for medium in filters.mediums:
        assert isinstance(medium, str)
        assert medium == medium.strip(_UNICODE_WHITESPACE)
        assert 1 <= len(medium) <= 300
    assert filters.status is None or isinstance(filters.status, ArtworkStatus)
    assert filters.user_id is None or filters.user_id == str(uuid.UUID(filters.user_id))
    assert re.fullmatch(r"[A-Z]{3}", filters.currency)
    assert type(filters.top_n) is int
    assert 1 <= filters.top_n <= 100


@FUZZ
@given(data=filter_dicts)
@example(data={"start": "2024-06-30", "end": "2024-01-01"})
@example(data={"start": dt.datetime(2024, 1, 1)})
@example(data={"mediums": ["Print", " Print "], "currency": "EUR\n"})
@example(data={"top_n": 10**30, "status": "stolen", "colour": "red"})
@example(data={"user_id": "x'); DROP TABLE users; --"})
def test_overview_filters_parse_is_valid_or_names_a_given_key(data: dict[str, Any]) -> None:
    filters, error = _attempt(OverviewFilters.parse, data)
    if error is not None:
        assert isinstance(error, GalleryAnalyticsError)
        # "mediums.0" names an item of mediums; an unknown key may itself contain dots
        named = error.field if error.field in data else error.field.split(".")[0]
        assert named in data, (error.field, list(data))
        assert str(error).startswith(f"{error.field}: ")
        return
    assert isinstance(filters, OverviewFilters)
    _check_filters_invariants(filters)
    assert not set(data) - set(FILTER_VALUES)  # unknown keys are never accepted


@pytest.mark.parametrize("medium", ["\x1c", "Print\x1f", "\x1d\x1e"])
def test_overview_filters_mediums_are_stripped_like_python_strips(medium: str) -> None:
    filters, error = _attempt(OverviewFilters.parse, {"mediums": [medium]})
    if error is not None:
        assert error.field.startswith("mediums")
        return
    assert all(m == m.strip() and m for m in filters.mediums), filters.mediums


@FUZZ
@given(value=anything.filter(lambda value: value is not None and not isinstance(value, dict)))
def test_overview_filters_parse_rejects_non_mappings(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        OverviewFilters.parse(value)  # type: ignore[arg-type]
    _assert_names_field(caught.value, "filters")


@FUZZ
@given(
    start=st.dates(max_value=LATEST_DATE),
    days=st.integers(0, 5000),
    mediums=st.lists(st.sampled_from(["Print", " Print", "Oil on canvas", "Photography "])),
    top_n=st.integers(1, 100),
)
def test_valid_overview_filters_round_trip(
    start: dt.date, days: int, mediums: list[str], top_n: int
) -> None:
    end = min(start + dt.timedelta(days=min(days, (LATEST_DATE - start).days)), LATEST_DATE)
    filters = OverviewFilters.parse(
        {"start": start.isoformat(), "end": end, "mediums": mediums, "top_n": top_n}
    )
    assert (filters.start, filters.end, filters.top_n) == (start, end, top_n)
    assert filters.mediums == tuple(dict.fromkeys(m.strip() for m in mediums))
    _check_filters_invariants(filters)


# -- report parameters ------------------------------------------------------------------------

pair_texts = st.one_of(
    st.text(),
    st.builds(
        lambda name, pad, value: f"{pad}{name}{pad}={value}",
        st.sampled_from([*PARAMETERS, "colour", "START", ""]),
        st.sampled_from(["", " "]),
        st.one_of(st.text(), st.sampled_from(SQL_INJECTIONS)),
    ),
)


@FUZZ
@given(pairs=st.lists(pair_texts, max_size=6))
@example(pairs=["start=2024-01-01", "start=2024-02-01"])
@example(pairs=["=2024-01-01"])
@example(pairs=["medium"])
def test_parse_parameter_pairs_returns_known_keys_or_names_the_problem(pairs: list[str]) -> None:
    values, error = _attempt(parse_parameter_pairs, pairs)
    if error is not None:
        given_names = {pair.partition("=")[0].strip() for pair in pairs}
        assert error.field == "param" or error.field in given_names
        assert str(error).startswith(f"{error.field}: ")
        return
    assert isinstance(values, dict)
    assert set(values) <= set(PARAMETERS)
    assert len(values) == len(pairs)
    assert all(isinstance(value, str) and value == value.strip() for value in values.values())


@FUZZ
@given(
    chosen=st.dictionaries(
        st.sampled_from(PARAMETERS), st.one_of(st.text(), st.sampled_from(SQL_INJECTIONS))
    )
)
def test_parse_parameter_pairs_round_trip(chosen: dict[str, str]) -> None:
    pairs = [f" {name} ={value}" for name, value in chosen.items()]
    assert parse_parameter_pairs(pairs) == {name: v.strip() for name, v in chosen.items()}


# -- CLI argument types -----------------------------------------------------------------------


@functools.cache
def _click_command() -> Any:
    """The real CLI as Click sees it, built once (~4 ms a build, hundreds of examples)."""
    return typer.main.get_command(app)


def _parse(argv: list[str]) -> tuple[Any, str]:
    """Parse ``argv`` with the real CLI (Typer) without running the command:
    (the converted parameters or the exit code, the error line)."""
    command = _click_command().commands[argv[0]]
    try:
        with command.make_context(argv[0], argv[1:]) as context:
            return context.params, ""
    except typer.TyperException as error:
        return error.exit_code, f"error: {error.format_message()}"


def _assert_usage_error(outcome: Any, stderr: str, option: str) -> None:
    assert outcome == 2
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, stderr
    assert f"'{option}'" in errors[0]


number_texts = st.one_of(
    st.text(max_size=30),
    st.integers().map(str),
    huge_ints.map(str),
    st.sampled_from(["1.5", "1e3", " 7 ", "0x10", "1_000", "٣", "", *SQL_INJECTIONS]),
)


@FUZZ
@given(text=number_texts)
@example(text="9" * 5000)  # past int()'s digit limit: still a clean usage error
def test_cli_seed_is_a_non_negative_int64_or_a_usage_error(text: str) -> None:
    outcome, stderr = _parse(["seed", "--seed", text])
    if isinstance(outcome, int):
        _assert_usage_error(outcome, stderr, "--seed")
        return
    assert type(outcome["seed"]) is int
    assert 0 <= outcome["seed"] < 2**63
    # pydantic's integers: digits with optional sign, underscores and a zero fraction
    assert outcome["seed"] == int(Decimal(text.strip()))


@FUZZ
@given(text=st.one_of(st.text(max_size=30), _date_texts(), st.sampled_from(SQL_INJECTIONS)))
@example(text=" 2024-01-02\n")  # surrounding blanks are ignored, as in GALLERY_TODAY
def test_cli_summary_on_is_a_date_or_a_usage_error(text: str) -> None:
    outcome, stderr = _parse(["summary", "--on", text])
    if isinstance(outcome, int):
        _assert_usage_error(outcome, stderr, "--on")
        return
    assert type(outcome["on"]) is dt.date
    assert outcome["on"] == dt.date.fromisoformat(text.strip())


@FUZZ
@given(text=st.text(max_size=20))
def test_cli_seed_size_is_a_known_size_or_a_usage_error(text: str) -> None:
    assume(not text.startswith("-"))
    outcome, stderr = _parse(["seed", "--size", text])
    if isinstance(outcome, int):
        _assert_usage_error(outcome, stderr, "--size")
        return
    assert outcome["size"] in SIZES
