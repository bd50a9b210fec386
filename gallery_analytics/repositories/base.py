"""What every entity repository shares: a session handed in, lookups by primary key.

A repository never opens, commits or shares sessions; the service that owns the unit
of work does. That keeps "one session per unit of work, never shared by concurrent
tasks" a property of the service layer, where the concurrency is decided.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from gallery_analytics.db.models import Base

ModelT = TypeVar("ModelT", bound=Base)


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
        order_by: InstrumentedAttribute[object] | None = None,
        limit: int | None = None,
    ) -> list[ModelT]:
        statement = select(self.model).where(column == value)
        if order_by is not None:
            statement = statement.order_by(order_by)
        if limit is not None:
            statement = statement.limit(limit)
        return list((await self.session.scalars(statement)).all())

    async def _add(self, entity: ModelT) -> ModelT:
        """Insert now (flush) so the caller gets the id and constraint errors surface here."""
        self.session.add(entity)
        await self.session.flush()
        return entity
