"""How an extract reads a query: its result columns, and the SELECT that ADBC runs.

The query is prepared on a pooled read connection first (the one the
:class:`~gallery_analytics.db.database.Database` routes reads to: the replica when it may
serve this read, read-your-writes included). Preparing checks that it is one statement
and gives each column's PostgreSQL type, so nothing is guessed from the data.

ADBC then runs ``SELECT <casts> FROM (<query>) AS _extract(c0, c1, ...)``. The wrapper
decides on the server what each column arrives as:

- ``numeric`` as ``text``, which the stream's thread parses into float64 (pyarrow,
  correctly rounded, as ``float(Decimal)``: past float8's range +-inf or +-0.0).
  Measured on 1M rows: ADBC decoding binary numerics into strings itself costs about
  0.25 s of the client; the server's ``::float8`` costs it 0.2 s against 0.16 s for
  ``::text`` (both go through the numeric's text) and fails on values past float8's
  range; parsing the text on the client costs 10 ms, beside the server's work.
- ``oid`` as ``int8``: ADBC reads it as a signed 32-bit integer, which wraps above 2^31.
- every type without a native pandas dtype (uuid, json, jsonb, interval, time, arrays,
  enums, ranges, ...) as ``text``, in PostgreSQL's own spelling (``{1,2}`` for an array,
  ``1 day 02:00:00`` for an interval), the documented fallback of :mod:`.dtypes`.

Parameters are inlined as typed literals (``('5'::"pg_catalog"."int4")``) that the
server itself quotes (``quote_nullable``), never Python string formatting: ADBC's COPY
takes no parameters. Only real placeholders are replaced: ``$1`` inside a string, a
quoted name, a dollar-quoted body or a comment is left alone. (asyncpg's private
``_mogrify`` does the same job, but replaces ``$1`` wherever it appears, and drops the
types, which turns ``LIMIT $1`` into a literal of unknown type.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from gallery_analytics.db.database import Database
from gallery_analytics.db.translate import write_through_read_error
from gallery_analytics.domain.columns import Kind
from gallery_analytics.errors import ReadOnlyError, ValidationError
from gallery_analytics.frames.dtypes import kind_for_oid

# Types ADBC decodes into the Arrow type the project wants, with no cast: bool, int8,
# int2, int4, float4, float8, date, timestamp, timestamptz, text, varchar, bpchar, name.
_NATIVE_OIDS = frozenset({16, 20, 21, 23, 700, 701, 1082, 1114, 1184, 25, 1043, 1042, 19})
_CASTS = {26: "int8"}
# What the server reads as a parameter ``$n``, and the tokens inside which "$1" is just
# text: string constants (standard, E'' escapes, dollar-quoted), quoted names and
# comments. (standard_conforming_strings is on, as in every PostgreSQL since 9.1; block
# comments are not nested here.) A "$" inside a name (col$1) is part of the name.
_TOKENS = re.compile(
    r"""
    (?P<text>
        [eE]'(?:[^'\\]|\\.|'')*'
      | '(?:[^']|'')*'
      | "(?:[^"]|"")*"
      | --[^\n]*
      | /\*.*?\*/
      | \$(?P<tag>(?:[A-Za-z_\x80-\uffff][A-Za-z_0-9\x80-\uffff]*)?)\$.*?\$(?P=tag)\$
    )
    | (?<![\w$])\$(?P<position>\d+)
    """,
    re.DOTALL | re.VERBOSE,
)
# The statement's first keyword, past blanks and opening parentheses (in a statement
# whose comments are blanked: :func:`_comments_blanked`).
_LEADING_KEYWORD = re.compile(r"[\s(]*(?P<word>[A-Za-z]*)")
_WRITING_KEYWORDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "WITH"})


@dataclass(frozen=True, slots=True)
class ExtractPlan:
    """A prepared extract: what comes back, and from where."""

    names: tuple[str, ...]  # the result's column names, as the query gives them
    kinds: tuple[Kind, ...]
    type_oids: tuple[int, ...]
    type_names: tuple[str, ...]  # quoted, schema-qualified: for typed literals
    source: str  # the query, parameters inlined: one statement
    url: URL  # the server and role the read was routed to (holds the password)

    def alias(self, index: int) -> str:
        return f"c{index}"

    def column_index(self, name: str, *, field: str) -> int:
        """The position of the result column ``name``; it must be there exactly once."""
        positions = [index for index, given in enumerate(self.names) if given == name]
        if len(positions) != 1:
            found = "appears twice" if positions else "is not a column of the result"
            raise ValidationError(
                field, f"{name!r} {found}; expected one of {list(self.names)}", value=name
            )
        return positions[0]

    def inner(self) -> str:
        """The query with its columns renamed to c0, c1, ... (names may repeat)."""
        aliases = ", ".join(self.alias(index) for index in range(len(self.names)))
        # Newlines: a trailing "-- comment" in the query must not swallow the ")".
        return f"(\n{self.source}\n) AS _extract({aliases})"

    def select(self, where: str | None = None) -> str:
        """The SELECT ADBC runs, with the casts described in the module docstring."""
        columns = ", ".join(
            _output(self.alias(index), oid) for index, oid in enumerate(self.type_oids)
        )
        condition = f" WHERE {where}" if where else ""
        return f"SELECT {columns} FROM {self.inner()}{condition}"


async def plan_extract(db: Database, sql: str, args: Sequence[Any]) -> ExtractPlan:
    """Prepare ``sql`` on a routed read connection and inline ``args``."""
    async with db.connection() as connection:
        url = connection.engine.url
        driver = (await connection.get_raw_connection()).driver_connection
        return await plan_on(driver, url, sql, args)


async def plan_on(driver: Any, url: URL, sql: str, args: Sequence[Any]) -> ExtractPlan:
    """:func:`plan_extract` on an asyncpg connection already chosen (``url``'s)."""
    sql = _without_statement_end(sql)
    statement = await driver.prepare(sql)
    attributes = statement.get_attributes()
    if not attributes:
        raise ValidationError("query", "returns no columns; expected a SELECT of at least one")
    parameters = statement.get_parameters()
    source = await _inline(driver, sql, parameters, args) if parameters else sql
    plan = ExtractPlan(
        names=tuple(attribute.name for attribute in attributes),
        kinds=tuple(kind_for_oid(attribute.type.oid) for attribute in attributes),
        type_oids=tuple(attribute.type.oid for attribute in attributes),
        type_names=tuple(type_name(attribute.type) for attribute in attributes),
        source=source,
        url=url,
    )
    try:
        await driver.prepare(plan.select())  # parsed and planned, never run
    except (asyncpg.PostgresSyntaxError, asyncpg.FeatureNotSupportedError):
        raise _not_rows(sql) from None
    return plan


def _not_rows(sql: str) -> ReadOnlyError | ValidationError:
    """Why a statement that prepared on its own cannot be the wrapper's subquery.

    INSERT, UPDATE, DELETE or MERGE ... RETURNING cannot be one, nor a WITH whose main
    statement or one of whose parts changes data (a WITH that only reads can). That is a
    write through a read: ReadOnlyError, as the read role would give when it ran. The
    rest (EXPLAIN, SHOW, CALL, ...) are not rows a query gives.
    """
    match = _LEADING_KEYWORD.match(_comments_blanked(sql))
    keyword = match["word"].upper() if match else ""
    if keyword in _WRITING_KEYWORDS:
        return write_through_read_error(keyword)
    return ValidationError(
        "query",
        "cannot be read as rows: extracts run SELECT, VALUES, TABLE or WITH ... SELECT "
        "queries (changing data goes through Database.write_session())",
    )


def _without_statement_end(sql: str) -> str:
    """``sql`` without what may follow its last token: blanks, semicolons and comments,
    as an editor leaves them (``SELECT ...; -- note``). The wrapper needs the bare query:
    a ";" inside its parentheses would end it. Comment marks inside a string or a quoted
    name are not comments (the same tokens as :func:`_inline`); comments are read as the
    blanks they are, so a ";" inside a trailing comment is not taken for the end."""
    kept = _comments_blanked(sql)
    while (stripped := kept.rstrip().rstrip(";")) != kept:
        kept = stripped
    return sql[: len(kept)]


def _comments_blanked(sql: str) -> str:
    """``sql`` with each comment replaced by spaces of its length, so positions stay."""
    return _TOKENS.sub(_comment_as_blanks, sql)


def _comment_as_blanks(match: re.Match[str]) -> str:
    """A comment as spaces of its length; any other token as it is."""
    text = match[0]
    return " " * len(text) if text.startswith(("--", "/*")) else text


def type_name(pg_type: Any) -> str:
    """asyncpg's description of a type as a quoted, schema-qualified name for a cast."""
    name: str = pg_type.name
    if name.endswith("[]"):
        name = "_" + name[:-2]  # the array type's own name
    return f"{_quote_identifier(pg_type.schema)}.{_quote_identifier(name)}"


async def _inline(driver: Any, sql: str, parameters: Sequence[Any], args: Sequence[Any]) -> str:
    """``sql`` with each ``$n`` replaced by the server's quoting of its value, typed.

    A Python string given for a non-text parameter is converted by the server
    (``'5'::text::int4``), so command-line values need no Python type.
    """
    types = [type_name(parameter) for parameter in parameters]
    quoted = ", ".join(
        f"quote_nullable(${position}::text::{types[position - 1]})"
        if isinstance(value, str)
        else f"quote_nullable(${position}::{types[position - 1]})"
        for position, value in enumerate(args, start=1)
    )
    literals = await driver.fetchrow(f"SELECT {quoted}", *args)

    def typed(match: re.Match[str]) -> str:
        if match["position"] is None:
            return match[0]  # a string, a quoted name or a comment: left as it is
        position = int(match["position"])
        return f"({literals[position - 1]}::{types[position - 1]})"

    return _TOKENS.sub(typed, sql)


def _output(alias: str, oid: int) -> str:
    if oid in _NATIVE_OIDS:
        return alias
    return f"{alias}::{_CASTS.get(oid, 'text')} AS {alias}"


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
