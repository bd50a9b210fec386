"""A one-screen summary of the gallery: counts, revenue, top artists, open exhibitions.

Four independent queries, each in its own read session (and so its own pooled
connection), run concurrently with ``asyncio.gather``; all aggregation is in SQL. The top
artists are the dashboard's ``top_artists`` panel (its query from the panel registry), so
"top artists by revenue" means the same thing in the summary, the widget and the report:
revenue in :data:`SUMMARY_CURRENCY`, every sale converted at its month's exchange rate,
and the sales without a rate stated in ``notes`` (the dashboard's sentence).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, TypeAdapter
from sqlalchemy import func, select

from gallery_analytics import panels
from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Artist, Artwork, Exhibition, ExhibitionVisit, Sale, User
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.domain.values import reject_awaitable, require_date, validated
from gallery_analytics.queries.overview import excluded_sales
from gallery_analytics.services.dashboard import exclusion_note

SUMMARY_CURRENCY = "EUR"  # the currency the summary's top artists are ranked in

MAX_TOP = 100
# How many top artists the summary lists: a whole number (not a bool, float or text).
TopCount = Annotated[int, Strict(), Field(ge=1, le=MAX_TOP)]
_TOP: TypeAdapter[int] = TypeAdapter(TopCount)


class RevenueLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    currency: str
    sales: int
    revenue: Decimal


class ArtistRevenue(BaseModel):
    model_config = ConfigDict(frozen=True)
    artist_id: str
    name: str
    currency: str
    revenue: Decimal


class GallerySummaryDto(BaseModel):
    model_config = ConfigDict(frozen=True)
    on: dt.date
    counts: dict[str, int]
    revenue: list[RevenueLine]
    top_artists: list[ArtistRevenue]
    open_exhibitions: int
    # What the converted figures (the top artists) left out, one sentence each.
    notes: list[str] = Field(default_factory=list)

    def render(self) -> str:
        """Plain text for terminals and logs."""
        lines = [f"Gallery summary on {self.on.isoformat()}"]
        lines.append("  " + ", ".join(f"{n:,} {name}" for name, n in self.counts.items()))
        for line in self.revenue:
            lines.append(
                f"  revenue {line.currency}: {line.revenue:,.2f} from {line.sales:,} sales"
            )
        if not self.revenue:
            lines.append("  no sales recorded")
        lines.append(f"  exhibitions open: {self.open_exhibitions}")
        if self.top_artists:
            currency = self.top_artists[0].currency
            lines.append(f"  top artists by revenue (in {currency}, at monthly rates):")
            lines.extend(
                f"    {rank}. {a.name}: {a.revenue:,.2f} {a.currency}"
                for rank, a in enumerate(self.top_artists, start=1)
            )
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


class SummaryService:
    def __init__(self, db: Database) -> None:
        reject_awaitable(db, field="db")  # `SummaryService(ga.connect())`
        self.db = db

    async def get_summary(self, *, on: dt.date | None = None, top: int = 5) -> GallerySummaryDto:
        """Counts, revenue, top artists and the exhibitions open on ``on`` (default: the
        workbench's today, ``Database.today()``)."""
        # Both checked before any I/O (`today()` reads the database).
        day = None if on is None else require_date(on, field="on")
        top = validated(_TOP, top, field="top", expected=f"a whole number from 1 to {MAX_TOP}")
        on = await self.db.today() if day is None else day
        counts, revenue, (top_artists, notes), open_shows = await asyncio.gather(
            self._counts(), self._revenue(), self._top_artists(top), self._open_exhibitions(on)
        )
        return GallerySummaryDto(
            on=on,
            counts=counts,
            revenue=revenue,
            top_artists=top_artists,
            open_exhibitions=open_shows,
            notes=notes,
        )

    async def _counts(self) -> dict[str, int]:
        statement = select(
            select(func.count()).select_from(User).scalar_subquery().label("users"),
            select(func.count()).select_from(Artist).scalar_subquery().label("artists"),
            select(func.count()).select_from(Artwork).scalar_subquery().label("artworks"),
            select(func.count()).select_from(Exhibition).scalar_subquery().label("exhibitions"),
            select(func.count()).select_from(Sale).scalar_subquery().label("sales"),
            select(func.coalesce(func.sum(ExhibitionVisit.visitors), 0))
            .scalar_subquery()
            .label("visitors"),
        )
        async with self.db.read_session() as session:
            row = (await session.execute(statement)).one()
        return {key: int(value) for key, value in row._mapping.items()}

    async def _revenue(self) -> list[RevenueLine]:
        statement = (
            select(
                Sale.currency, func.count().label("sales"), func.sum(Sale.price).label("revenue")
            )
            .group_by(Sale.currency)
            .order_by(func.sum(Sale.price).desc())
        )
        async with self.db.read_session() as session:
            rows = (await session.execute(statement)).all()
        return [RevenueLine(currency=r.currency, sales=r.sales, revenue=r.revenue) for r in rows]

    async def _top_artists(self, top: int) -> tuple[list[ArtistRevenue], list[str]]:
        """The top artists (converted revenue) and the note on the sales left out."""
        filters = OverviewFilters(currency=SUMMARY_CURRENCY, top_n=top)
        statement = panels.panel("top_artists").query(filters)
        async with self.db.read_session() as session:
            rows = (await session.execute(statement)).mappings().all()
            excluded = (await session.execute(excluded_sales(filters))).mappings().all()
        note = exclusion_note(excluded, currency=filters.currency)
        artists = [
            ArtistRevenue(
                artist_id=row["artist_id"],
                name=row["artist"],
                currency=filters.currency,
                # The panel sums in float8; cents survive the round trip at any real total.
                revenue=Decimal(f"{row['revenue']:.2f}"),
            )
            for row in rows
        ]
        return artists, [] if note is None else [note]

    async def _open_exhibitions(self, on: dt.date) -> int:
        statement = select(func.count()).where(Exhibition.starts_on <= on, Exhibition.ends_on >= on)
        async with self.db.read_session() as session:
            return int(await session.scalar(statement) or 0)
