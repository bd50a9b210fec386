"""What every entity repository shares: a session handed in, lookups by primary key.

A repository never opens, commits or shares sessions; the service that owns the unit
of work does. That keeps "one session per unit of work, never shared by concurrent
tasks" a property of the service layer, where the concurrency is decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from gallery_analytics.db.models import Base

ModelT = TypeVar("ModelT", bound=Base)
SelectT = TypeVar("SelectT", bound=Select[Any])


class SortKey:
    """One column of a keyset order: the column and whether it runs descending.

    A list's order must end in a unique column (the id) so that "the rows after this
    one" is well defined even between equal names.
    """

    __slots__ = ("column", "descending")

    def __init__(self, column: InstrumentedAttribute[Any], *, descending: bool = False) -> None:
        self.column = column
        self.descending = descending

    def ordering(self) -> ColumnElement[Any]:
        return self.column.desc() if self.descending else self.column.asc()

    def beyond(self, value: object) -> ColumnElement[bool]:
        return self.column < value if self.descending else self.column > value


def keyset_page(
    statement: SelectT,
    order: Sequence[SortKey],
    *,
    after: Sequence[object] | None,
    limit: int | None,
) -> SelectT:
    """``statement`` ordered by ``order``, starting after the row whose sort values are
    ``after`` (keyset pagination: a page costs the same however deep it is, and rows
    inserted meanwhile neither repeat nor vanish, unlike OFFSET).

    Why not a row-value comparison ``(a, b) > (x, y)``: it needs every key in the same
    direction; the exhibitions list runs newest first, then by title.
    """
    statement = statement.order_by(*(key.ordering() for key in order))
    if after is not None:
        if len(after) != len(order):
            raise ValueError("a keyset cursor needs one value per sort key")
        clauses: list[ColumnElement[bool]] = []
        for depth, key in enumerate(order):
            equal_before = [order[i].column == after[i] for i in range(depth)]
            clauses.append(and_(*equal_before, key.beyond(after[depth])))
        statement = statement.where(or_(false(), *clauses))
    if limit is not None:
        statement = statement.limit(limit)
    return statement


class Repository(Generic[ModelT]):
    model: type[ModelT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_id(self, entity_id: str) -> ModelT | None:
        return await self.session.get(self.model, entity_id)

    async def _find_by(
        self,
        column: InstrumentedAttribute[str],
        value: str,
        *,
        order: Sequence[SortKey],
        limit: int | None = None,
        after: Sequence[object] | None = None,
    ) -> list[ModelT]:
        statement = keyset_page(
            select(self.model).where(column == value), order, after=after, limit=limit
        )
        return list((await self.session.scalars(statement)).all())

    async def _add(self, entity: ModelT) -> ModelT:
        """Insert now (flush) so the caller gets the id and constraint errors surface here,
        then read the row back: what the caller returns is what was stored (numerics at
        the column's scale, timestamps in the server's zone, defaults filled in), the same
        as a later lookup gives, not the values as they were passed in."""
        self.session.add(entity)
        await self.session.flush()
        await self.session.refresh(entity)
        return entity
