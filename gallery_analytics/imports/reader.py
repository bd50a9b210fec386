"""Read a CSV file into records, each with the physical line it starts on.

Python's ``csv`` module does the parsing (RFC 4180: quoted commas, quotes and newlines),
in strict mode, so malformed quoting is an error instead of a guess: by default the
module would read a quote that is never closed as a field running to the end of the
file, silently swallowing every row after it. When the module refuses a record, the
record's text is scanned again here to say exactly what is wrong and where: the line
a never-closed quote opened on, the column of an oversized field.

Line numbers are physical lines of the file, as an editor shows them (``\\n``, ``\\r\\n``
and a lone ``\\r`` each end a line): blank lines and the extra lines of multi-line quoted
fields are counted, so a problem reported on line 1,000,002 is on line 1,000,002.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from gallery_analytics.errors import ImportValidationError, Problem

__all__ = ["CsvTable", "Record", "read_csv"]

_BREAK = re.compile(r"\r\n|\r|\n")
# A quoted field: its content (doubled quotes inside) and the closing quote, if any.
_QUOTED = re.compile(r'"((?:[^"]++|"")*+)("?)')
_PLAIN = re.compile(r"[^,\r\n]*+")


@dataclass(frozen=True, slots=True)
class Record:
    """The fields of one CSV record and the physical line it starts on (1-based)."""

    line: int
    fields: list[str]


@dataclass(frozen=True, slots=True)
class CsvTable:
    """The header (the first non-blank record; None for an empty file) and the records."""

    header: Record | None
    records: list[Record]


def read_csv(data: bytes, *, name: str) -> CsvTable:
    """Decode ``data`` (UTF-8, with or without BOM) and split it into records.

    Blank lines are skipped. Raises :class:`ImportValidationError` with one problem
    naming ``name``, the line and the column when the file is not UTF-8 or its quoting
    is malformed; nothing after such a problem can be trusted, so reading stops.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = len(_BREAK.findall(data[: exc.start].decode("utf-8", "replace"))) + 1
        raise ImportValidationError(
            [Problem(name, line, "", "the file is not UTF-8 text")]
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: Record | None = None
    records: list[Record] = []
    append = records.append
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            columns = header.fields if header is not None else []
            problem = _diagnose(text, name=name, start=start, end=reader.line_num, columns=columns)
            raise ImportValidationError(
                [problem or Problem(name, start, "", f"malformed CSV ({exc})")]
            ) from None
        if not fields:  # a blank line
            continue
        if header is None:
            header = Record(start, fields)
        else:
            append(Record(start, fields))
    return CsvTable(header, records)


def _diagnose(text: str, *, name: str, start: int, end: int, columns: list[str]) -> Problem | None:
    """Why the record on lines ``start``..``end`` was refused, found by scanning it again.

    Runs only after the csv module refused a record, so it may be slow-ish; it only has
    to agree with the module on well-formed input.
    """
    lines = io.StringIO(text, newline="").readlines()
    record = "".join(lines[start - 1 : end])
    limit = csv.field_size_limit()
    position, line, column = 0, start, 1

    def problem(at: int, reason: str) -> Problem:
        label = columns[column - 1] if column <= len(columns) and columns[column - 1] else ""
        return Problem(name, at, label or str(column), reason)

    too_long = f"longer than {limit:,} characters (the largest field an import reads)"
    while True:
        field_line = line
        if record.startswith('"', position):
            match = _QUOTED.match(record, position)
            assert match is not None  # the pattern matches any text starting with a quote
            content = match.group(1)
            if len(content) - content.count('""') > limit:
                return problem(field_line, too_long)
            if not match.group(2):
                return problem(
                    field_line, 'a quoted field opened on this line is never closed (missing ")'
                )
            line += len(_BREAK.findall(content))
            position = match.end()
            if position < len(record) and record[position] not in ",\r\n":
                return problem(
                    line,
                    "text after a field's closing quote; expected a comma or the end of the "
                    'line (a quote inside a quoted field is written "")',
                )
        else:
            match = _PLAIN.match(record, position)
            assert match is not None  # the pattern matches the empty string
            if len(match.group()) > limit:
                return problem(field_line, too_long)
            position = match.end()
        if record.startswith(",", position):
            position += 1
            column += 1
            continue
        return None
