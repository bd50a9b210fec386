"""What an extract runs: a query and its parameters checked, then compiled for asyncpg.

Queries are a SQLAlchemy ``select()``/``text()`` or a SQL string, with values passed as
bound parameters. Both the fast and the slow path refuse the same inputs here, before any
SQL runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import TextClause

from gallery_analytics.domain.values import reject_awaitable, storable_text
from gallery_analytics.errors import ValidationError

Query = Executable | str

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]  # compiles SQL only


def compile_query(query: Query, params: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """SQL with ``$n`` placeholders and the positional values asyncpg expects."""
    statement = checked_statement(query, params)
    compiled = statement.compile(dialect=_DIALECT)  # type: ignore[attr-defined]
    try:
        expanded = compiled.construct_expanded_state(dict(params) if params else None)
    except Exception as exc:  # SQLAlchemy raises InvalidRequestError for a missing value
        raise ValidationError("params", f"cannot bind the query's parameters: {exc}") from None
    names = expanded.positiontup or []
    values = expanded.positional_parameters if names else ()
    processors = expanded.processors
    args = [
        processors[name](value) if name in processors else value
        for name, value in zip(names, values, strict=True)
    ]
    return expanded.statement, args


def checked_statement(query: Query, params: Mapping[str, Any] | None) -> Executable:
    """``query`` as a statement, after checking it and ``params``: both fast and slow
    paths refuse the same inputs before any SQL runs. A coroutine anywhere, even as one
    parameter's value, gets the await hint (the driver would say only that it cannot
    encode a coroutine)."""
    reject_awaitable(query, field="query")
    reject_awaitable(params, field="params")
    if isinstance(query, str):
        if not query.strip():
            raise ValidationError("query", "expected SQL text or a select(), got an empty string")
        statement: Executable = text(query)
    elif isinstance(query, Executable):
        statement = query
    else:
        raise ValidationError(
            "query", f"expected SQL text or a SQLAlchemy select(), got {type(query).__name__}"
        )
    if params is not None and not isinstance(params, Mapping):
        raise ValidationError("params", f"expected a dict of values, got {type(params).__name__}")
    for name, value in (params or {}).items():
        for item in value if isinstance(value, list | tuple) else [value]:
            reject_awaitable(item, field=f"params.{name}")
            if isinstance(item, str):
                try:
                    storable_text(item)
                except ValueError as exc:
                    raise ValidationError(f"params.{name}", str(exc)) from None
    if isinstance(statement, TextClause) and params:
        unknown = set(params) - set(statement._bindparams)
        if unknown:
            raise ValidationError(
                "params", f"{sorted(unknown)} match no :name placeholder in the query"
            )
    return statement
