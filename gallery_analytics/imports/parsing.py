"""Read and validate collection CSVs (artists, artworks, exchange rates) into clean records.

Museums publish collections as CSV with their own column names, free-text dates and
sizes in millimetres. Everything is checked here, before anything touches the
database, and every problem names the file, the physical line and the column:

* the file's structure (UTF-8, quoting, a header naming each column we read once) is
  checked first; a broken file cannot be split into rows, so nothing of it can be
  imported, not even with ``--skip-invalid`` (``ParsedFile.fatal``);
* each row must have as many fields as the header, then is validated by the row model
  of its file (:mod:`gallery_analytics.imports.fields`);
* an optional value that cannot be read (a size of "(left):", a birth year of "²") is
  left empty with a warning and the row kept, unless ``strict``, where it rejects the
  row as any other problem does; a value that reads but cannot be true (a birth year of
  99999, a work made in 2999) is always a problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from gallery_analytics.errors import ImportValidationError, Problem, ValidationError
from gallery_analytics.imports.fields import (
    LIFE_YEARS,
    UNUSABLE,
    ArtistRow,
    ArtworkRow,
    RateRow,
    ValueProblem,
    find_year,
    parse_year,
)
from gallery_analytics.imports.reader import read_csv

__all__ = [
    "ARTIST_COLUMNS",
    "ARTWORK_COLUMNS",
    "COLUMNS",
    "RATE_COLUMNS",
    "REQUIRED",
    "UNKNOWN_ARTIST_SOURCE_ID",
    "ParsedFile",
    "Problem",
    "parse_column_map",
    "parse_file",
    "parse_year",
]

MODELS: dict[str, type[pydantic.BaseModel]] = {
    "artists": ArtistRow,
    "artworks": ArtworkRow,
    "rates": RateRow,
}
ARTIST_COLUMNS = tuple(ArtistRow.model_fields)
ARTWORK_COLUMNS = tuple(ArtworkRow.model_fields)
RATE_COLUMNS = tuple(RateRow.model_fields)
COLUMNS = {"artists": ARTIST_COLUMNS, "artworks": ARTWORK_COLUMNS, "rates": RATE_COLUMNS}
# Columns the header must have. ``artist_id`` may be empty in a row (an unknown artist),
# but a file without the column is more likely the wrong file.
REQUIRED = {
    "artists": ("id", "name"),
    "artworks": ("id", "artist_id", "title"),
    "rates": RATE_COLUMNS,
}
# The source id of the one artist per source that works with no artist_id belong to. A
# file may not use it (see ``_row_problems``), so it never names a real artist.
UNKNOWN_ARTIST_SOURCE_ID = "(unknown artist)"
UNKNOWN_ARTIST_NAME = "Unknown artist"


@dataclass
class ParsedFile:
    """Clean rows (dicts in our column names) with their lines, and what was found.

    ``problems`` reject rows (or, when ``fatal``, the whole file); ``warnings`` are
    values left empty in rows that were kept; ``raw`` holds the source text of every
    row with a problem or warning, for the rejects file.
    """

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    rejected: int = 0
    rejected_ids: set[str] = field(default_factory=set)
    fatal: bool = False
    raw: dict[int, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)


def parse_column_map(pairs: Sequence[str]) -> dict[str, dict[str, str]]:
    """``["artworks.year=Date", ...]`` to ``{"artworks": {"Date": "year"}}``."""
    mapping: dict[str, dict[str, str]] = {kind: {} for kind in COLUMNS}
    for pair in pairs:
        target, separator, source = pair.partition("=")
        kind, dot, column = target.strip().partition(".")
        source = source.strip()
        if not separator or not dot or not source:
            raise ValidationError("map", f"expected FILE.COLUMN=SOURCE_COLUMN, got {pair!r}")
        if kind not in COLUMNS:
            raise ValidationError(
                "map", f"expected {', '.join(f'{k}.*' for k in COLUMNS)}, got {kind!r}"
            )
        if column not in COLUMNS[kind]:
            raise ValidationError(
                "map",
                f"{kind} has no column {column!r}; expected one of {', '.join(COLUMNS[kind])}",
            )
        for other, ours in mapping[kind].items():
            if ours == column and other != source:
                raise ValidationError(
                    "map", f"{kind}.{column} is read from two columns ({other!r} and {source!r})"
                )
        mapping[kind][source] = column
    return mapping


def parse_file(
    path: Path,
    kind: str,
    column_map: Mapping[str, str],
    *,
    known_artists: set[str] | None = None,
    rejected_artists: set[str] | None = None,
    strict: bool = False,
) -> ParsedFile:
    """Read and check one file; ``known_artists`` (artworks only) are the artist ids
    that will be imported, ``rejected_artists`` those of rejected rows."""
    parsed = ParsedFile(name=path.name)
    try:
        table = read_csv(path.read_bytes(), name=path.name)
    except ImportValidationError as error:
        parsed.problems.extend(error.problems)
        parsed.fatal = True
        return parsed
    if table.header is None:
        parsed.problems.append(
            Problem(path.name, 1, "", "the file is empty; expected a header row naming the columns")
        )
        parsed.fatal = True
        return parsed
    header = table.header.fields
    positions = _read_header(parsed, header, table.header.line, kind, column_map)
    if parsed.fatal:
        return parsed
    model = MODELS[kind]
    width = len(header)
    positions_id = next((index for index, column in positions if column == "id"), None)
    first_line: dict[object, int] = {}
    for record in table.records:
        line, fields = record.line, record.fields
        problems: list[tuple[str, str]] = []
        warnings: list[tuple[str, str]] = []
        values: dict[str, Any] = {}
        if len(fields) != width:
            problems.append(_field_count(header, len(fields)))
        else:
            row = {column: fields[index].strip() for index, column in positions}
            values = _validate(model, row, kind, problems, warnings, strict=strict)
            problems.extend(
                _row_problems(row, kind, known_artists, rejected_artists or set(), strict=strict)
            )
            identifier = row.get("id", "")
            if identifier and identifier in first_line:
                problems.append(("id", f"duplicates the id of line {first_line[identifier]}"))
            elif identifier:
                first_line[identifier] = line
            elif kind == "rates" and values:  # one rate per currency and month
                key = (values["currency"], values["month"])
                if key in first_line:
                    problems.append(
                        (
                            "month",
                            f"{key[0]} already has a rate for this month (line {first_line[key]})",
                        )
                    )
                else:
                    first_line[key] = line
        if problems or warnings:
            parsed.raw[line] = "|".join(f"{k}={v}" for k, v in zip(header, fields, strict=False))
        if problems:
            parsed.problems.extend(Problem(path.name, line, c, r) for c, r in problems)
            parsed.rejected += 1
            if (
                positions_id is not None
                and len(fields) > positions_id
                and fields[positions_id].strip()
            ):
                parsed.rejected_ids.add(fields[positions_id].strip())
            continue
        parsed.warnings.extend(Problem(path.name, line, c, r) for c, r in warnings)
        parsed.rows.append(values)
        parsed.lines.append(line)
    return parsed


def _read_header(
    parsed: ParsedFile, header: list[str], line: int, kind: str, column_map: Mapping[str, str]
) -> list[tuple[int, str]]:
    """(position, our column) of each column read; header problems make the file fatal.

    A column named in ``--map`` wins over a column that already has our name, which is
    then ignored. A column we read may appear only once.
    """
    mapped = set(column_map.values())
    positions: list[tuple[int, str]] = []
    seen: dict[str, list[int]] = {}
    ignored: list[str] = []
    for index, source in enumerate(header):
        ours = column_map.get(source, source if source not in mapped else None)
        if ours is None or ours not in COLUMNS[kind]:
            if source and source not in ignored:
                ignored.append(source)
            continue
        seen.setdefault(ours, []).append(index + 1)
        positions.append((index, ours))
    parsed.ignored_columns = ignored
    for where in seen.values():
        if len(where) > 1:
            times = "twice" if len(where) == 2 else f"{len(where)} times"
            listed = ", ".join(map(str, where[:-1])) + f" and {where[-1]}"
            source = header[where[0] - 1]
            parsed.problems.append(
                Problem(
                    parsed.name, line, source, f"appears {times} in the header (columns {listed})"
                )
            )
    for column in REQUIRED[kind]:
        if column not in seen:
            parsed.problems.append(Problem(parsed.name, line, column, "required column is missing"))
            break
    parsed.fatal = bool(parsed.problems)
    return positions


def _field_count(header: list[str], count: int) -> tuple[str, str]:
    width = len(header)
    if count > width:
        return (
            str(width + 1),
            f"unexpected field: the header has {width} columns, this row has {count}",
        )
    return (
        header[count] or str(count + 1),
        f"missing field: the header has {width} columns, this row has {count}",
    )


def _validate(
    model: type[pydantic.BaseModel],
    row: dict[str, str],
    kind: str,
    problems: list[tuple[str, str]],
    warnings: list[tuple[str, str]],
    *,
    strict: bool,
) -> dict[str, Any]:
    """The row's values; unusable optional values become warnings unless ``strict``."""
    data = {column: value for column, value in row.items() if value}
    try:
        values = dict(model.model_validate(data).__dict__)
    except pydantic.ValidationError as exc:
        dropped: list[str] = []
        for error in exc.errors(include_url=False, include_input=False):
            column = str(error["loc"][0]) if error["loc"] else ""
            reason = "a value is required" if error["type"] == "missing" else error["msg"]
            if error["type"] == UNUSABLE and not strict:
                warnings.append((column, reason))
                dropped.append(column)
            else:
                problems.append((column, reason))
        if problems:
            return {}
        for column in dropped:
            del data[column]
        values = dict(model.model_validate(data).__dict__)
    if kind == "artworks":
        values["year_created"] = _creation_year(values["year"], problems, warnings, strict=strict)
    return values


def _creation_year(
    text: str | None,
    problems: list[tuple[str, str]],
    warnings: list[tuple[str, str]],
    *,
    strict: bool,
) -> int | None:
    """The plausible year in the free-text date, if any; the text itself is kept."""
    if text is None:
        return None
    try:
        return find_year(text, LIFE_YEARS, required=False)
    except ValueProblem as exc:
        unreadable = exc.type == UNUSABLE
        (warnings if unreadable and not strict else problems).append(("year", str(exc)))
        return None


def _row_problems(
    row: dict[str, str],
    kind: str,
    known_artists: set[str] | None,
    rejected_artists: set[str],
    *,
    strict: bool,
) -> list[tuple[str, str]]:
    """Problems that need more than the row: reserved and unknown artist ids."""
    problems: list[tuple[str, str]] = []
    if row.get("id") == UNKNOWN_ARTIST_SOURCE_ID:
        problems.append(
            ("id", f"{UNKNOWN_ARTIST_SOURCE_ID!r} is reserved for works with no artist_id")
        )
    if kind == "artworks":
        artist = row.get("artist_id", "")
        if not artist and strict:
            problems.append(("artist_id", "a value is required"))
        elif artist in rejected_artists:
            problems.append(("artist_id", f"its artist (id {artist!r}) is rejected"))
        elif artist and known_artists is not None and artist not in known_artists:
            problems.append(("artist_id", f"matches no artist (id {artist!r})"))
    return problems
