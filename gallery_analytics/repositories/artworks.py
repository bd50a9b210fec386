from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from gallery_analytics.db.models import Artwork
from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.repositories.base import Repository, SortKey


class ArtworkRepository(Repository[Artwork]):
    model = Artwork
    # By title; the id orders works of the same title ("Untitled").
    order = (SortKey(Artwork.title), SortKey(Artwork.id))

    async def find_by_user(
        self, user_id: str, *, limit: int | None = None, after: Sequence[object] | None = None
    ) -> list[Artwork]:
        """Artworks the user owns, by title (after the cursor's sort values, if any)."""
        return await self._find_by(
            Artwork.owner_id, user_id, order=self.order, limit=limit, after=after
        )

    async def find_by_artist(self, artist_id: str, *, limit: int | None = None) -> list[Artwork]:
        return await self._find_by(Artwork.artist_id, artist_id, order=self.order, limit=limit)

    async def create(
        self,
        *,
        artist_id: str,
        owner_id: str,
        title: str,
        medium: str | None = None,
        year_created: int | None = None,
        width_cm: Decimal | None = None,
        height_cm: Decimal | None = None,
        status: ArtworkStatus = ArtworkStatus.AVAILABLE,
        list_price: Decimal | None = None,
        acquired_at: dt.datetime | None = None,
    ) -> Artwork:
        return await self._add(
            Artwork(
                artist_id=artist_id,
                owner_id=owner_id,
                title=title,
                medium=medium,
                year_created=year_created,
                width_cm=width_cm,
                height_cm=height_cm,
                status=status,
                list_price=list_price,
                acquired_at=acquired_at,
            )
        )
