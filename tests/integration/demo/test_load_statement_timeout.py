"""A reload is bounded by its own statement timeout, not the interactive one: its COPY of
a whole table (with the rollup triggers aggregating it) is one statement, longer than
any dashboard query should be allowed to run."""

from __future__ import annotations

from sqlalchemy import text

from gallery_analytics.config import Settings
from gallery_analytics.db.database import Database
from gallery_analytics.demo.load import seed_demo


async def test_a_reload_outlasts_a_tiny_interactive_statement_timeout(fresh_db: Database) -> None:
    impatient = Database(
        fresh_db.url,
        read_url=fresh_db.read_url,
        admin_url=fresh_db.admin_url,
        settings=Settings(statement_timeout_seconds=0.001),
    )
    async with impatient:
        report = await seed_demo(impatient, size="small", seed=7, progress=False)
    assert report.rows["sales"] > 0
    async with fresh_db.read_session() as session:
        sales = await session.scalar(text("SELECT count(*) FROM sales"))
        rolled = await session.scalar(text("SELECT sum(sales) FROM rollup_sales_monthly"))
    assert sales == rolled == report.rows["sales"]
