"""Read and validate collection CSVs (artists, artworks) into clean records.

Museums publish collections as CSV with their own column names, free-text dates and
sizes in millimetres. Everything is checked here, before anything touches the
database: each problem is reported with file, line, column and reason.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gallery_analytics.validation import storable_text

ARTIST_COLUMNS = (
    "id",
    "name",
    "gender",
    "birth_year",
    "death_year",
    "nationality",
    "place_of_birth",
)
ARTWORK_COLUMNS = (
    "id",
    "artist_id",
    "title",
    "accession_number",
    "medium",
    "year",
    "acquisition_year",
    "width_mm",
    "height_mm",
    "depth_mm",
    "credit_line",
)
REQUIRED = {"artists": ("id", "name"), "artworks": ("id", "artist_id", "title")}
COLUMNS = {"artists": ARTIST_COLUMNS, "artworks": ARTWORK_COLUMNS}
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_LIMITS = {
    "name": 300,
    "nationality": 100,
    "gender": 40,
    "place_of_birth": 300,
    "medium": 300,
    "accession_number": 100,
    "id": 200,
    "artist_id": 200,
}


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" + (
            f", column {self.column}" if self.column else ""
        )
        return f"{where}: {self.reason}"


@dataclass
class ParsedFile:
    """Clean rows (dicts in our column names), their line numbers, and the problems."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    raw: list[dict[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rejected: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def parse_year(text: str | None) -> int | None:
    """The first four-digit year in free text ("c.1880", "1920-5", "1960s"), else None."""
    if not text:
        return None
    match = _YEAR.search(text)
    return int(match.group(1)) if match else None


def parse_column_map(pairs: Sequence[str]) -> dict[str, dict[str, str]]:
    """``["artworks.year=Date", ...]`` to ``{"artworks": {"Date": "year"}}``."""
    from gallery_analytics.errors import ValidationError

    mapping: dict[str, dict[str, str]] = {"artists": {}, "artworks": {}}
    for pair in pairs:
        target, separator, source = pair.partition("=")
        kind, dot, column = target.strip().partition(".")
        if not separator or not dot or not source.strip():
            raise ValidationError("map", f"expected FILE.COLUMN=SOURCE_COLUMN, got {pair!r}")
        if kind not in COLUMNS:
            raise ValidationError("map", f"expected artists.* or artworks.*, got {kind!r}")
        if column not in COLUMNS[kind]:
            raise ValidationError(
                "map",
                f"{kind} has no column {column!r}; expected one of {', '.join(COLUMNS[kind])}",
            )
        mapping[kind][source.strip()] = column
    return mapping


def read_rows(path: Path, kind: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each record; UTF-8 with or without BOM, RFC 4180 quoting."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NotUtf8Error(Problem(path.name, line, "", "the file is not UTF-8 text")) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    _ = reader.fieldnames  # reads the header line
    line = reader.line_num + 1
    for row in reader:
        yield line, row
        line = reader.line_num + 1


class NotUtf8Error(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def parse_file(
    path: Path, kind: str, column_map: Mapping[str, str], *, known_artists: set[str] | None = None
) -> ParsedFile:
    parsed = ParsedFile(name=path.name)
    try:
        records = list(read_rows(path, kind))
    except NotUtf8Error as error:
        parsed.problems.append(error.problem)
        return parsed
    header = list(records[0][1].keys()) if records else _header(path)
    renamed = {source: column_map.get(source, source) for source in header if source is not None}
    parsed.ignored_columns = [s for s, ours in renamed.items() if ours not in COLUMNS[kind]]
    missing = [c for c in REQUIRED[kind] if c not in renamed.values()]
    if missing:
        parsed.problems.append(Problem(path.name, 1, missing[0], "required column is missing"))
        return parsed
    first_line: dict[str, int] = {}
    for line, source_row in records:
        row = {renamed[k]: (v or "").strip() for k, v in source_row.items() if k in renamed}
        row = {k: v for k, v in row.items() if k in COLUMNS[kind]}
        problems = _check(row, kind, known_artists)
        identifier = row.get("id", "")
        if identifier and identifier in first_line:
            problems.append(("id", f"duplicates the id of line {first_line[identifier]}"))
        elif identifier:
            first_line[identifier] = line
        if problems:
            for column, reason in problems:
                parsed.problems.append(Problem(path.name, line, column, reason))
            parsed.rejected.append((line, source_row, "; ".join(f"{c}: {r}" for c, r in problems)))
            continue
        parsed.rows.append(_clean(row, kind))
        parsed.lines.append(line)
        parsed.raw.append(source_row)
    return parsed


def _header(path: Path) -> list[str]:
    try:
        first = path.read_text(encoding="utf-8-sig").splitlines()[:1]
    except (UnicodeDecodeError, OSError):
        return []
    return next(csv.reader(first), []) if first else []


def _check(row: dict[str, str], kind: str, known_artists: set[str] | None) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for column in REQUIRED[kind]:
        if not row.get(column):
            problems.append((column, "a value is required"))
    for column, value in row.items():
        if not value:
            continue
        try:
            storable_text(value)
        except ValueError as exc:
            problems.append((column, str(exc)))
        limit = _LIMITS.get(column)
        if limit is not None and len(value) > limit:
            problems.append((column, f"longer than {limit} characters"))
    if kind == "artists":
        birth, death = row.get("birth_year", ""), row.get("death_year", "")
        for column, value in (("birth_year", birth), ("death_year", death)):
            if value and not value.isdigit():
                problems.append((column, f"expected a year such as 1887, got {value!r}"))
        if birth.isdigit() and death.isdigit() and int(death) < int(birth):
            problems.append(("death_year", f"death ({death}) is before birth ({birth})"))
    else:
        for column in ("width_mm", "height_mm", "depth_mm"):
            value = row.get(column, "")
            if value:
                try:
                    size = Decimal(value)
                except InvalidOperation:
                    problems.append((column, f"expected a number of millimetres, got {value!r}"))
                    continue
                # At least 0.05 mm: stored in cm with two decimals, smaller would be 0.
                if not size.is_finite() or size < Decimal("0.05") or size > 100_000_000:
                    problems.append(
                        (column, f"expected a positive size in millimetres, got {value!r}")
                    )
        acquisition = row.get("acquisition_year", "")
        if acquisition and parse_year(acquisition) is None:
            problems.append(("acquisition_year", f"expected a year, got {acquisition!r}"))
        artist = row.get("artist_id", "")
        if artist and known_artists is not None and artist not in known_artists:
            problems.append(("artist_id", f"matches no artist (id {artist!r})"))
    return problems


def _clean(row: dict[str, str], kind: str) -> dict[str, Any]:
    value: dict[str, Any] = {column: (row.get(column) or None) for column in COLUMNS[kind]}
    if kind == "artists":
        for column in ("birth_year", "death_year"):
            value[column] = int(value[column]) if value[column] else None
        return value
    for column in ("width_mm", "height_mm", "depth_mm"):
        if value[column] is not None:
            value[column] = (Decimal(value[column]) / 10).quantize(Decimal("0.01"))
    value["year_created"] = parse_year(value["year"])
    acquisition = parse_year(value["acquisition_year"])
    value["acquisition_year"] = acquisition
    return value
