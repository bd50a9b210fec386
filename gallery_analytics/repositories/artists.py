from __future__ import annotations

from collections.abc import Sequence

from gallery_analytics.db.models import Artist
from gallery_analytics.repositories.base import Repository, SortKey


class ArtistRepository(Repository[Artist]):
    model = Artist
    # By name; the id orders namesakes, so a keyset cursor is unambiguous.
    order = (SortKey(Artist.name), SortKey(Artist.id))

    async def find_by_user(
        self, user_id: str, *, limit: int | None = None, after: Sequence[object] | None = None
    ) -> list[Artist]:
        """Artists the user manages, by name (after the cursor's sort values, if any)."""
        return await self._find_by(
            Artist.owner_id, user_id, order=self.order, limit=limit, after=after
        )

    async def create(
        self,
        *,
        owner_id: str,
        name: str,
        nationality: str | None = None,
        gender: str | None = None,
        birth_year: int | None = None,
        death_year: int | None = None,
    ) -> Artist:
        return await self._add(
            Artist(
                owner_id=owner_id,
                name=name,
                nationality=nationality,
                gender=gender,
                birth_year=birth_year,
                death_year=death_year,
            )
        )
