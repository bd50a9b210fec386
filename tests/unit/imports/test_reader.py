"""The collection CSV reader and value parsers, without a database.

Properties: any table Python's ``csv`` module writes reads back exactly, each record
with the physical line it starts on; any text given to a value parser gives a plausible
value or a problem, never another exception.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from gallery_analytics.errors import ImportValidationError
from gallery_analytics.imports.fields import (
    ACQUISITION_YEARS,
    LIFE_YEARS,
    ValueProblem,
    parse_millimetres,
    parse_year_value,
)
from gallery_analytics.imports.parsing import parse_file
from gallery_analytics.imports.reader import read_csv

FUZZ = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
_BREAK = re.compile(r"\r\n|\r|\n")

# Any text but NUL (rejected separately, as text PostgreSQL cannot store), weighted
# towards the characters CSV gives meaning to.
cell = st.text(
    alphabet=st.one_of(
        st.sampled_from([",", '"', "\r", "\n", " ", "a", "é", "😀", "\ufeff"]),
        st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
    ),
    max_size=12,
)


@st.composite
def tables(draw: st.DrawFn) -> list[list[str]]:
    width = draw(st.integers(min_value=1, max_value=5))
    row = st.lists(cell, min_size=width, max_size=width)
    header = draw(row.filter(lambda r: r != [""]))
    return [header, *draw(st.lists(row, max_size=6))]


def _written(table: list[list[str]], line_terminator: str) -> tuple[str, list[int]]:
    """The text csv.writer produces, and the physical line each row starts on."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=line_terminator)
    starts = []
    for row in table:
        starts.append(len(_BREAK.findall(buffer.getvalue())) + 1)
        writer.writerow(row)
    return buffer.getvalue(), starts


@FUZZ
@given(table=tables(), terminator=st.sampled_from(["\r\n", "\n"]), bom=st.booleans())
def test_any_table_the_csv_module_writes_reads_back_exactly(
    table: list[list[str]], terminator: str, bom: bool
) -> None:
    if terminator == "\n":
        # csv.writer quotes a field only for the characters of *its* line terminator: with
        # "\n" a lone "\r" is written bare, which no reader (csv's own included) can tell
        # from a line break. The default dialect ("\r\n") quotes both.
        table = [[value.replace("\r", "") for value in row] for row in table]
        assume(table[0] != [""])
    written, starts = _written(table, terminator)
    data = ("\ufeff" if bom else "").encode() + written.encode("utf-8")
    result = read_csv(data, name="t.csv")
    assert result.header is not None
    assert [result.header.fields, *[r.fields for r in result.records]] == table
    assert [result.header.line, *[r.line for r in result.records]] == starts


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [
        ('id,name\nA1,"Unclosed\nA2,Bob\nA3,Carol\n', 2, "name"),
        ('id,name\nA1,Ada\nA2,"Bob', 3, "name"),
        ('id,name\n"A1,Ada\n', 2, "id"),
        ('id,name,x\nA1,"multi\nline","open\nA2,b,c\n', 3, "x"),
        ('id,"name\n', 1, "2"),  # in the header itself: columns have no names yet
        ('id,name\r\nA1,"x\r\ny"\r\nA2,"z', 4, "name"),
        ('id,,x\nA1,"b\n', 2, "2"),  # a column with a blank name: its position
    ],
)
def test_an_unclosed_quote_names_the_line_it_opened_on(
    content: str, line: int, column: str
) -> None:
    with pytest.raises(ImportValidationError) as caught:
        read_csv(content.encode(), name="a.csv")
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.column) == ("a.csv", line, column)
    assert "never closed" in problem.reason


def test_text_after_a_closing_quote_is_a_problem() -> None:
    with pytest.raises(ImportValidationError) as caught:
        read_csv(b'id,name\nA1,Ada\nA2,"Bob" Smith\n', name="a.csv")
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (3, "name")
    assert "closing quote" in problem.reason


@pytest.mark.parametrize("quoted", [False, True])
def test_a_huge_field_is_a_problem_not_a_csv_error(quoted: bool) -> None:
    value = "x" * 10_000_000
    field = f'"{value}\n{value}"' if quoted else value
    with pytest.raises(ImportValidationError) as caught:
        read_csv(f"id,name\nA1,Ada\nA2,{field}\n".encode(), name="a.csv")
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (3, "name")
    assert problem.reason.startswith("longer than ")


def test_blank_lines_are_skipped_and_counted() -> None:
    result = read_csv(b"\nid,name\n\n\n\nA1,Ada\n\n", name="a.csv")
    assert result.header is not None
    assert result.header.line == 2
    assert [(r.line, r.fields) for r in result.records] == [(6, ["A1", "Ada"])]


def test_an_empty_file_has_no_header() -> None:
    assert read_csv(b"", name="a.csv").header is None
    assert read_csv(b"\n\n", name="a.csv").header is None


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1887", 1887), ("-500", -500), ("0", 0), (" 1900 ", None)],
)
def test_life_years(text: str, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(ValueProblem):
            parse_year_value(text, LIFE_YEARS)
    else:
        assert parse_year_value(text, LIFE_YEARS) == expected


@pytest.mark.parametrize(
    "text", ["²", "١٨٥٦", "99999999999", "99999", "1" * 5000, "1_900", "+1900", "1e3", "", "-"]
)
def test_implausible_or_non_ascii_years_are_problems(text: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        parse_year_value(text, LIFE_YEARS)
    assert "expected a year" in str(caught.value)


def test_acquisition_years_start_later() -> None:
    assert parse_year_value("1856", ACQUISITION_YEARS) == 1856
    with pytest.raises(ValueProblem, match="expected a year from 1500 to"):
        parse_year_value("0000", ACQUISITION_YEARS)


@FUZZ
@given(text=st.text(max_size=30))
def test_any_text_is_a_plausible_year_or_a_problem(text: str) -> None:
    for years in (LIFE_YEARS, ACQUISITION_YEARS):
        try:
            value = parse_year_value(text, years)
        except ValueProblem:
            continue
        assert years.earliest <= value <= years.latest()
        assert text.isascii()


@FUZZ
@given(text=st.text(max_size=30))
@example(text=".05")  # the smallest size: 0.005 cm, which half-to-even rounded to 0
def test_any_text_is_a_storable_size_or_a_problem(text: str) -> None:
    try:
        value = parse_millimetres(text)
    except ValueProblem:
        return
    assert value.is_finite()
    assert 0 < value < 10**8  # centimetres, numeric(10, 2)
    assert text.isascii()


def test_unicode_digit_sizes_are_problems() -> None:
    for text in ("١٢", "NaN", "Infinity", "1e400", "-5", "0.01", "(left):"):
        with pytest.raises(ValueProblem, match="millimetres"):
            parse_millimetres(text)


def test_parse_file_lenient_and_strict(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,name,birth_year,death_year\nA1,Ada,²,1852\nA2,Bob,1900,1850\n")
    lenient = parse_file(path, "artists", {})
    assert [str(w) for w in lenient.warnings] == [
        "a.csv, line 2, column birth_year: expected a year such as 1887, got '²'"
    ]
    assert lenient.rows[0]["birth_year"] is None
    assert lenient.rows[0]["death_year"] == 1852
    # Inconsistent values are not unparseable: still a problem.
    assert [str(p) for p in lenient.problems] == [
        "a.csv, line 3, column death_year: death (1850) is before birth (1900)"
    ]
    strict = parse_file(path, "artists", {}, strict=True)
    assert not strict.warnings
    assert len(strict.problems) == 2
