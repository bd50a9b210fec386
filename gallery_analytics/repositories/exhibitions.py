from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select

from gallery_analytics.db.models import Exhibition
from gallery_analytics.repositories.base import Repository, SortKey


class ExhibitionRepository(Repository[Exhibition]):
    model = Exhibition
    # Most recent first, then by title; the id orders same-day shows of the same title.
    order = (
        SortKey(Exhibition.starts_on, descending=True),
        SortKey(Exhibition.title),
        SortKey(Exhibition.id),
    )

    async def find_by_user(
        self, user_id: str, *, limit: int | None = None, after: Sequence[object] | None = None
    ) -> list[Exhibition]:
        """Exhibitions the user curates, most recent first (after the cursor's values)."""
        return await self._find_by(
            Exhibition.curator_id, user_id, order=self.order, limit=limit, after=after
        )

    async def find_active(self, *, on: dt.date, curator_id: str | None = None) -> list[Exhibition]:
        """Exhibitions open on ``on`` (both end dates inclusive)."""
        statement = select(Exhibition).where(Exhibition.starts_on <= on, Exhibition.ends_on >= on)
        if curator_id is not None:
            statement = statement.where(Exhibition.curator_id == curator_id)
        statement = statement.order_by(Exhibition.ends_on, Exhibition.title)
        return list((await self.session.scalars(statement)).all())

    async def create(
        self,
        *,
        curator_id: str,
        title: str,
        venue: str,
        city: str,
        starts_on: dt.date,
        ends_on: dt.date,
    ) -> Exhibition:
        return await self._add(
            Exhibition(
                curator_id=curator_id,
                title=title,
                venue=venue,
                city=city,
                starts_on=starts_on,
                ends_on=ends_on,
            )
        )
