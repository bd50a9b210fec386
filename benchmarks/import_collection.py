"""Import speed: 3,500 artists and 70,000 artworks from CSV (target: under 10 s).

Writes a synthetic collection in the shape museums publish (free-text dates, sizes in
mm, quoted titles, thousands of distinct mediums) to a temporary folder, imports it
into a scratch database twice (the second run finds every row unchanged) and prints
the times.

    .venv/bin/python benchmarks/import_collection.py [--artworks 70000] [--artists 3500]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import URL

from gallery_analytics.config import Settings
from gallery_analytics.db.admin import create_database, drop_database
from gallery_analytics.db.connect import application_database, embedded_server_url
from gallery_analytics.db.roles import provision_database
from gallery_analytics.db.schema import upgrade_schema
from gallery_analytics.imports import import_collection

TARGET_SECONDS = 10.0
YEARS = ["1887", "c.1880", "1920-5", "1960s", "date not known", "1901-1905", ""]


def write_collection(folder: Path, artists: int, artworks: int) -> tuple[Path, Path]:
    rng = random.Random(7)
    artists_csv, artworks_csv = folder / "artists.csv", folder / "artworks.csv"
    with open(artists_csv, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "gender", "birth_year", "death_year", "nationality"])
        for i in range(artists):
            born = 1700 + i % 280
            writer.writerow(
                [
                    f"a{i}",
                    f"Artist {i}",
                    rng.choice(["Male", "Female", ""]),
                    born,
                    born + 70 if born < 1930 else "",
                    rng.choice(["British", "", "Dutch"]),
                ]
            )
    with open(artworks_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "id",
                "artist_id",
                "title",
                "accession_number",
                "medium",
                "year",
                "acquisition_year",
                "width_mm",
                "height_mm",
                "credit_line",
            ]
        )
        for i in range(artworks):
            writer.writerow(
                [
                    f"w{i}",
                    f"a{rng.randrange(artists)}",
                    f'Work {i}, "study"',
                    f"T{i:06d}",
                    f"Medium {rng.randrange(4000)}",
                    rng.choice(YEARS),
                    1823 + i % 200,
                    100 + i % 2000,
                    250.5,
                    "Presented, 1990",
                ]
            )
    return artists_csv, artworks_csv


async def server_url(settings: Settings) -> URL:
    """GALLERY_DATABASE_URL's server (a superuser URL), else the embedded one."""
    return settings.database_url or await embedded_server_url(settings)


async def main(artists: int, artworks: int) -> None:
    settings = Settings.from_env()
    server = await server_url(settings)
    name = "gallery_bench_import"
    await drop_database(server, name)
    await create_database(server, name)
    await provision_database(server, name)
    # Imports run as the application's writer role, as `gallery-analytics import` does.
    db = application_database(server, name, settings=settings)
    try:
        async with db:
            await upgrade_schema(db.admin_url)
            with tempfile.TemporaryDirectory() as folder:
                files = await asyncio.to_thread(write_collection, Path(folder), artists, artworks)
                for attempt in ("first import", "same files again"):
                    started = time.perf_counter()
                    report = await import_collection(
                        db,
                        artists_csv=files[0],
                        artworks_csv=files[1],
                        source="bench",
                        progress=False,
                    )
                    seconds = time.perf_counter() - started
                    verdict = "MET" if seconds <= TARGET_SECONDS else "MISSED"
                    print(
                        f"{attempt}: {seconds:.2f} s (target {TARGET_SECONDS:.0f} s: {verdict}); "
                        f"artworks {report.artworks}"
                    )
    finally:
        await drop_database(server, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artists", type=int, default=3500)
    parser.add_argument("--artworks", type=int, default=70_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.artists, arguments.artworks))
