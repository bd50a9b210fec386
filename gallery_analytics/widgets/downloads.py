"""The rows behind the dashboard's view, as a Parquet file the page downloads.

The view's revenue is made of sales; an analyst who wants to check or extend a chart
needs those sales, not the chart's aggregates. They are the same sales the revenue
panels sum (:func:`gallery_analytics.queries.overview.converted_sales`, so the filters
mean exactly what they mean on the charts), with the artwork and artist they belong to,
the original price and currency, and the amount in the view's currency (null where no
exchange rate converts it). Extracted with :func:`extract_frame` (COPY -> Arrow), and
written to Parquet in a worker thread, so the kernel's loop keeps serving the page.
"""

from __future__ import annotations

import asyncio
import io

import pandas as pd
from sqlalchemy import select

from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Artist, Artwork
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.frames.extract import extract_frame
from gallery_analytics.queries.overview import converted_sales

__all__ = ["sales_frame", "sales_parquet"]


async def sales_frame(db: Database, filters: OverviewFilters) -> pd.DataFrame:
    """The sales ``filters`` cover, one row per sale, oldest first."""
    sales = converted_sales(filters)
    query = (
        select(
            sales.c.id.label("sale_id"),
            sales.c.sold_at,
            Artwork.id.label("artwork_id"),
            Artwork.title.label("artwork"),
            Artist.name.label("artist"),
            Artwork.medium,
            Artwork.status,
            sales.c.currency.label("price_currency"),
            sales.c.price,
            sales.c.amount.label(f"amount_{filters.currency.lower()}"),
        )
        .join(Artwork, Artwork.id == sales.c.artwork_id)
        .join(Artist, Artist.id == Artwork.artist_id)
        .order_by(sales.c.sold_at, sales.c.id)
    )
    return await extract_frame(db, query)


async def sales_parquet(db: Database, filters: OverviewFilters) -> bytes:
    """:func:`sales_frame` as the bytes of a Parquet file."""
    frame = await sales_frame(db, filters)

    def encode() -> bytes:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()

    return await asyncio.to_thread(encode)
