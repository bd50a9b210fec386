"""`gallery-analytics import`: round trip, idempotence, corrections, validation,
atomicity, awkward CSVs, and dashboards over a collection with no prices or sales."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from gallery_analytics.db.database import Database
from gallery_analytics.errors import ImportValidationError
from gallery_analytics.frames import to_frame
from gallery_analytics.imports import loader
from gallery_analytics.services.dashboard import DashboardService
from tests.conftest import run_cli
from tests.helpers import (
    SAMPLE_ARTISTS,
    SAMPLE_ARTWORKS,
    fetch_rows,
    import_sample,
    table_checksums,
)

ARTISTS = SAMPLE_ARTISTS
ARTWORKS = SAMPLE_ARTWORKS


async def _import(db: Database, **options: object) -> loader.ImportReport:
    return await import_sample(db, **{"source": "sample", **options})


async def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """Write a CSV in a worker thread (async tests run under blockbuster)."""

    def write() -> Path:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    return await asyncio.to_thread(write)


def _read_rejects(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


async def test_round_trip(empty_db: Database) -> None:
    report = await _import(empty_db)
    assert report.artists == {"new": 4, "updated": 0, "unchanged": 0}
    assert report.artworks == {"new": 6, "updated": 0, "unchanged": 0}
    assert report.ignored_columns == {"artists": ["url"], "artworks": ["thumbnail"]}
    artists = {
        r["source_id"]: r
        for r in await fetch_rows(
            empty_db, "SELECT a.*, u.email FROM artists a JOIN users u ON u.id = a.owner_id"
        )
    }
    assert artists["A1"]["name"] == "Turner, Joseph Mallord William"  # BOM, quoted comma
    assert artists["A2"]["place_of_birth"] == "Coyoacán, México"
    assert artists["A4"]["name"] == 'Émile "the elder" Bernard'
    assert artists["A3"]["birth_year"] is None
    assert artists["A3"]["gender"] is None
    assert {r["email"] for r in artists.values()} == {"collections@gallery.example"}
    works = {r["source_id"]: r for r in await fetch_rows(empty_db, "SELECT * FROM artworks")}
    assert works["W3"]["credit_line"] == "Presented\nin memory of a collector, 1990"
    assert works["W1"]["width_cm"] == Decimal("121.90")  # mm stored as cm
    assert works["W4"]["width_cm"] == Decimal("20.05")
    assert (works["W2"]["year_created"], works["W2"]["year_text"]) == (1842, "c.1842")
    assert (works["W4"]["year_created"], works["W4"]["year_text"]) == (None, "date not known")
    assert works["W5"]["year_created"] == 1920
    assert works["W1"]["acquired_at"] == dt.datetime(1856, 1, 1, tzinfo=dt.UTC)
    assert works["W6"]["medium"] is None
    assert works["W6"]["acquired_at"] is None
    assert works["W1"]["list_price"] is None
    assert works["W1"]["source"] == "sample"


async def test_the_same_import_twice_changes_nothing(empty_db: Database) -> None:
    await _import(empty_db)
    before = await table_checksums(empty_db)
    again = await _import(empty_db)
    assert again.artists == {"new": 0, "updated": 0, "unchanged": 4}
    assert again.artworks == {"new": 0, "updated": 0, "unchanged": 6}
    assert await table_checksums(empty_db) == before


async def test_a_corrected_file_updates_only_the_changed_rows(
    empty_db: Database, tmp_path: Path
) -> None:
    await _import(empty_db)
    before = {r["source_id"]: r for r in await fetch_rows(empty_db, "SELECT * FROM artworks")}
    original = await asyncio.to_thread(ARTWORKS.read_text, encoding="utf-8")
    corrected = original.replace("Study of a tree", "Study of an oak")
    await asyncio.to_thread((tmp_path / "artworks.csv").write_text, corrected, encoding="utf-8")
    report = await _import(empty_db, artworks_csv=tmp_path / "artworks.csv")
    assert report.artworks == {"new": 0, "updated": 1, "unchanged": 5}
    after = {r["source_id"]: r for r in await fetch_rows(empty_db, "SELECT * FROM artworks")}
    assert after["W4"]["title"] == "Study of an oak"
    assert after["W4"]["id"] == before["W4"]["id"]  # updated in place, same id
    assert all(after[k] == before[k] for k in before if k != "W4")


async def test_dry_run_reports_and_writes_nothing(empty_db: Database) -> None:
    before = await table_checksums(empty_db)
    report = await _import(empty_db, dry_run=True)
    assert report.dry_run
    assert report.artworks["new"] == 6
    assert await table_checksums(empty_db) == before


BAD_ARTISTS = [
    ["A1", "", "", "", ""],  # missing name
    ["A2", "Bea", "1990", "1950", ""],  # birth after death
    ["A3", "Cy", "soon", "", ""],  # not a year
    ["A4", "Di", "1900", "", "Dutch"],
]
ARTWORK_HEADER = ["id", "artist_id", "title", "width_mm"]
BAD_ARTWORKS = [
    ["W1", "A4", "Fine", "200"],
    ["W2", "A9", "Orphan", "200"],  # no such artist
    ["W3", "A4", "", "200"],  # missing title
    ["W4", "A4", "Wide", "wide"],  # not a number
]


async def test_every_problem_is_reported_and_nothing_is_written(
    empty_db: Database, tmp_path: Path
) -> None:
    artists = await _write(
        tmp_path / "a.csv", ["id", "name", "birth_year", "death_year", "nationality"], BAD_ARTISTS
    )
    artworks = await _write(
        tmp_path / "w.csv", ["id", "artist_id", "title", "width_mm"], BAD_ARTWORKS
    )
    before = await table_checksums(empty_db)
    with pytest.raises(ImportValidationError) as caught:
        # strict: unusable years and sizes are problems, not warnings (test_import_trust)
        await _import(empty_db, artists_csv=artists, artworks_csv=artworks, strict=True)
    message = str(caught.value)
    for expected in (
        "a.csv, line 2, column name: a value is required",
        "a.csv, line 3, column death_year: death (1950) is before birth (1990)",
        "a.csv, line 4, column birth_year: expected a year such as 1887, got 'soon'",
        "w.csv, line 3, column artist_id: matches no artist (id 'A9')",
        "w.csv, line 4, column title: a value is required",
        "w.csv, line 5, column width_mm: expected a number of millimetres, got 'wide'",
    ):
        assert expected in message
    assert "nothing was written" in message
    assert await table_checksums(empty_db) == before


async def test_duplicate_ids_and_tiny_sizes_are_problems_not_database_errors(
    empty_db: Database, tmp_path: Path
) -> None:
    artworks = await _write(
        tmp_path / "w.csv",
        ARTWORK_HEADER,
        [["W1", "A1", "One", "200"], ["W1", "A1", "Again", "200"], ["W2", "A1", "Tiny", "0.01"]],
    )
    with pytest.raises(ImportValidationError) as caught:
        await _import(empty_db, artworks_csv=artworks, strict=True)
    message = str(caught.value)
    assert "w.csv, line 3, column id: duplicates the id of line 2" in message
    assert "w.csv, line 4, column width_mm: expected a positive size" in message


async def test_problems_are_listed_up_to_a_limit_then_counted(
    empty_db: Database, tmp_path: Path
) -> None:
    artists = await _write(tmp_path / "a.csv", ["id", "name"], [[f"A{i}", ""] for i in range(25)])
    with pytest.raises(ImportValidationError) as caught:
        await _import(empty_db, artists_csv=artists)
    # 25 nameless artists, and the sample's 6 artworks then match no artist.
    assert len(caught.value.problems) == 31
    message = str(caught.value)
    assert message.startswith("31 problem(s) in the import files; nothing was written:")
    assert message.count("a value is required") == 20  # the first 20, then a count
    assert message.endswith("... and 11 more problem(s)")


async def test_skip_invalid_imports_the_rest_and_writes_rejects(
    empty_db: Database, tmp_path: Path
) -> None:
    artists = await _write(
        tmp_path / "a.csv", ["id", "name", "birth_year", "death_year", "nationality"], BAD_ARTISTS
    )
    artworks = await _write(
        tmp_path / "w.csv", ["id", "artist_id", "title", "width_mm"], BAD_ARTWORKS
    )
    rejects = tmp_path / "rejects.csv"
    report = await _import(
        empty_db,
        artists_csv=artists,
        artworks_csv=artworks,
        skip_invalid=True,
        rejects_path=rejects,
        strict=True,
    )
    assert report.artists["new"] == 1
    assert report.artworks["new"] == 1
    assert report.rejected == 6
    rows = await asyncio.to_thread(_read_rejects, rejects)
    assert [(r["file"], r["line"]) for r in rows] == [
        ("a.csv", "2"),
        ("a.csv", "3"),
        ("a.csv", "4"),
        ("w.csv", "3"),
        ("w.csv", "4"),
        ("w.csv", "5"),
    ]
    assert "death (1950) is before birth (1990)" in rows[1]["reason"]
    assert "title=Wide" in rows[5]["row"] or "width_mm=wide" in rows[5]["row"]


async def test_not_utf8_and_missing_columns_are_reported(
    empty_db: Database, tmp_path: Path
) -> None:
    latin = tmp_path / "latin.csv"
    await asyncio.to_thread(latin.write_bytes, "id,name\nA1,Ren\xe9\n".encode("latin-1"))
    with pytest.raises(ImportValidationError, match=r"latin\.csv, line 2: the file is not UTF-8"):
        await _import(empty_db, artists_csv=latin)
    nameless = await _write(tmp_path / "n.csv", ["id", "nom"], [["A1", "Renée"]])
    with pytest.raises(ImportValidationError, match="column name: required column is missing"):
        await _import(empty_db, artists_csv=nameless)


async def test_column_map_reads_other_museums_exports(empty_db: Database, tmp_path: Path) -> None:
    artists = await _write(tmp_path / "a.csv", ["ConstituentID", "DisplayName"], [["7", "Ada"]])
    artworks = await _write(
        tmp_path / "w.csv",
        ["ObjectID", "ConstituentID", "Title", "Date"],
        [["1", "7", "Garden", "ca. 1905"]],
    )
    report = await _import(
        empty_db,
        artists_csv=artists,
        artworks_csv=artworks,
        column_map=[
            "artists.id=ConstituentID",
            "artists.name=DisplayName",
            "artworks.id=ObjectID",
            "artworks.artist_id=ConstituentID",
            "artworks.title=Title",
            "artworks.year=Date",
        ],
    )
    assert report.artworks["new"] == 1
    rows = await fetch_rows(empty_db, "SELECT title, year_created, year_text FROM artworks")
    assert rows == [{"title": "Garden", "year_created": 1905, "year_text": "ca. 1905"}]


async def test_an_interrupted_import_leaves_nothing(
    empty_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the artists were merged, before the artworks: all rolled back."""
    original = loader._tally
    calls = 0

    def fail_on_artworks(merged: object, total: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk on fire")
        return original(merged, total)  # type: ignore[arg-type]

    monkeypatch.setattr(loader, "_tally", fail_on_artworks)
    before = await table_checksums(empty_db)
    with pytest.raises(RuntimeError, match="disk on fire"):
        await _import(empty_db)
    assert await table_checksums(empty_db) == before
    assert empty_db.pool_status()["checked_out"] == 0


async def test_dashboards_over_an_imported_collection(empty_db: Database) -> None:
    await _import(empty_db)
    overview = await DashboardService(empty_db).get_gallery_overview()
    assert not overview.failed
    assert to_frame(overview["monthly_revenue"]).empty  # no sales: an empty panel
    assert to_frame(overview["top_artists"]).empty
    years = to_frame(overview["acquisitions_per_year"])
    assert years["year"].tolist() == [1856, 1901, 1970, 1990]
    media = to_frame(overview["artworks_by_medium_status"])
    assert "Unknown" in set(media["medium"])
    assert media["artworks"].sum() == 6
    figures = to_frame(overview["key_figures"]).iloc[0]
    assert figures["artworks"] == 6
    assert figures["revenue"] == 0


def test_cli_import(empty_db: Database, tmp_path: Path) -> None:
    arguments = [
        "import",
        "--artists",
        str(ARTISTS),
        "--artworks",
        str(ARTWORKS),
        "--source",
        "sample",
        "--owner",
        "curator@museum.example",
        "--no-progress",
    ]
    first = run_cli(*arguments, database_url=empty_db.url)
    assert first.returncode == 0, first.stderr
    assert "artworks: 6 new, 0 updated, 0 unchanged" in first.stdout
    assert "ignored artworks columns: thumbnail" in first.stdout
    second = run_cli(*arguments, database_url=empty_db.url)
    assert "artworks: 0 new, 0 updated, 6 unchanged" in second.stdout
    bad = run_cli(
        "import",
        "--artists",
        str(tmp_path / "missing.csv"),
        "--artworks",
        str(ARTWORKS),
        database_url=empty_db.url,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: artists: no such file")
    users = asyncio.run(_emails(empty_db))
    assert "curator@museum.example" in users


async def _emails(db: Database) -> list[str]:
    other = Database(db.url)
    try:
        return [str(r["email"]) for r in await fetch_rows(other, "SELECT email FROM users")]
    finally:
        await other.dispose()
