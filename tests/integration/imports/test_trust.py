"""Imports that must not lose, invent or overwrite anything (issue 10, findings 1, 2, 4,
14, 15 and real collections): broken CSV structure, implausible values, physical line
numbers, header-only files, works with no artist, unparseable optional fields, and the
rejects file never replacing a file the run did not create."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from pathlib import Path

import pytest

from gallery_analytics.db.database import Database
from gallery_analytics.errors import GalleryAnalyticsError, ImportValidationError, OutputPathError
from gallery_analytics.frames import to_frame
from gallery_analytics.imports import loader
from gallery_analytics.services.dashboard import DashboardService
from tests.conftest import run_cli
from tests.helpers import (
    SAMPLE_ARTISTS,
    SAMPLE_ARTWORKS,
    count_rows,
    fetch_rows,
    import_sample,
    table_checksums,
)

ARTISTS = SAMPLE_ARTISTS
ARTWORKS = SAMPLE_ARTWORKS
ONE_ARTWORK = "id,artist_id,title\nW1,A1,Only\n"
ONE_ARTIST = "id,name\nA1,Ada\n"


async def _file(path: Path, content: str | bytes) -> Path:
    """Write a file in a worker thread (async tests run under blockbuster)."""
    if isinstance(content, bytes):
        await asyncio.to_thread(path.write_bytes, content)
    else:
        await asyncio.to_thread(path.write_bytes, content.encode("utf-8"))
    return path


async def _import(db: Database, **options: object) -> loader.ImportReport:
    return await import_sample(db, **{"source": "trust", **options})


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# -- finding 1: an unclosed quote swallows rows --------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        # The reproduction: the quote opens on line 2 and never closes.
        ('id,name\nA1,"Unclosed\nA2,Bob\nA3,Carol\n', "a.csv, line 2, column name"),
        # No newline at the end of the file.
        ('id,name\nA1,Ada\nA2,"Bob', "a.csv, line 3, column name"),
        # A well-formed multi-line field first; the bad quote opens on the record's 2nd line.
        ('id,name,nationality\nA1,"Ada\nLovelace","British\nA2,Bob,\n', "line 3, column"),
    ],
)
async def test_an_unclosed_quote_is_an_error_naming_where_it_opened(
    empty_db: Database, tmp_path: Path, content: str, expected: str
) -> None:
    artists = await _file(tmp_path / "a.csv", content)
    artworks = await _file(tmp_path / "w.csv", ONE_ARTWORK)
    before = await table_checksums(empty_db)
    for skip_invalid in (False, True):  # a broken file cannot be split into rows to skip
        with pytest.raises(ImportValidationError) as caught:
            await _import(
                empty_db,
                artists_csv=artists,
                artworks_csv=artworks,
                skip_invalid=skip_invalid,
                rejects_path=tmp_path / f"rejects-{skip_invalid}.csv",
            )
        message = str(caught.value)
        assert expected in message
        assert "never closed" in message
    assert await table_checksums(empty_db) == before


async def test_text_after_a_closing_quote_is_an_error(empty_db: Database, tmp_path: Path) -> None:
    artists = await _file(tmp_path / "a.csv", 'id,name\nA1,"Ada" Lovelace\nA2,Bob\n')
    with pytest.raises(ImportValidationError, match=r"a\.csv, line 2, column name: .*quote"):
        await _import(empty_db, artists_csv=artists)


# -- finding 2: duplicate and extra columns ------------------------------------------------


async def test_a_duplicated_header_column_is_an_error(empty_db: Database, tmp_path: Path) -> None:
    artists = await _file(tmp_path / "a.csv", "id,name,name\nA1,First,Second\n")
    artworks = await _file(tmp_path / "w.csv", ONE_ARTWORK)
    with pytest.raises(ImportValidationError) as caught:
        await _import(empty_db, artists_csv=artists, artworks_csv=artworks)
    assert "a.csv, line 1, column name: appears twice in the header (columns 2 and 3)" in str(
        caught.value
    )
    assert await count_rows(empty_db, "artists") == 0


async def test_two_sources_for_one_column_are_an_error(empty_db: Database) -> None:
    with pytest.raises(GalleryAnalyticsError, match=r"map: .*title"):
        await _import(empty_db, column_map=["artworks.title=A", "artworks.title=B"])


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("A2,Bob,extra", "a.csv, line 3, column 3: unexpected field: the header has 2 columns"),
        ("A2", "a.csv, line 3, column name: missing field: the header has 2 columns"),
    ],
)
async def test_rows_with_more_or_fewer_fields_than_the_header_are_errors(
    empty_db: Database, tmp_path: Path, row: str, expected: str
) -> None:
    artists = await _file(tmp_path / "a.csv", f"id,name\nA1,Ada\n{row}\n")
    artworks = await _file(tmp_path / "w.csv", ONE_ARTWORK)
    with pytest.raises(ImportValidationError) as caught:
        await _import(empty_db, artists_csv=artists, artworks_csv=artworks)
    assert expected in str(caught.value)
    # --skip-invalid treats it as a row problem: the other rows are imported.
    report = await _import(
        empty_db,
        artists_csv=artists,
        artworks_csv=artworks,
        skip_invalid=True,
        rejects_path=tmp_path / "rejects.csv",
    )
    assert report.artists["new"] == 1
    assert report.rejected == 1


# -- finding 14: one line, never a traceback -----------------------------------------------

# Values that cannot be read: the row is kept without them (a warning) unless --strict.
UNREADABLE_VALUES = [
    ("artists", "birth_year", "\u00b2", "expected a year such as 1887"),
    ("artists", "birth_year", "\u0661\u0668\u0665\u0666", "expected a year such as 1887"),
    ("artworks", "width_mm", "\u0661\u0662", "expected a number of millimetres"),
    ("artworks", "width_mm", "NaN", "expected a number of millimetres"),
    ("artworks", "width_mm", "1e400", "expected a number of millimetres"),
    ("artworks", "acquisition_year", "\u0661\u0668\u0665\u0666", "expected a year"),
]
# Values that read but cannot be true: always a problem (the row is rejected).
IMPLAUSIBLE_VALUES = [
    ("artworks", "acquisition_year", "0000", "expected a year from 1500 to"),
    ("artists", "birth_year", "99999999999", "expected a year from -3000 to"),
    ("artists", "birth_year", "99999", "expected a year from -3000 to"),
    ("artworks", "year", "c.2999", "expected a year from -3000 to"),
]
HOSTILE_VALUES = UNREADABLE_VALUES + IMPLAUSIBLE_VALUES


def _hostile_files(folder: Path, kind: str, column: str, value: str) -> tuple[Path, Path]:
    artists, artworks = folder / "a.csv", folder / "w.csv"
    if kind == "artists":
        artists.write_text(f"id,name,{column}\nA1,Ada,{value}\n", encoding="utf-8")
        artworks.write_text(ONE_ARTWORK, encoding="utf-8")
    else:
        artists.write_text(ONE_ARTIST, encoding="utf-8")
        artworks.write_text(f"id,artist_id,title,{column}\nW1,A1,Only,{value}\n", encoding="utf-8")
    return artists, artworks


async def _hostile_case(
    folder: Path, kind: str, column: str, value: str, reason: str
) -> tuple[Path, Path, str]:
    """The two files of one hostile value, and the problem line it must produce."""
    artists, artworks = await asyncio.to_thread(_hostile_files, folder, kind, column, value)
    line = f"{'a' if kind == 'artists' else 'w'}.csv, line 2, column {column}: {reason}"
    return artists, artworks, line


@pytest.mark.parametrize(("kind", "column", "value", "reason"), IMPLAUSIBLE_VALUES)
async def test_implausible_values_are_problems_in_every_mode(
    empty_db: Database, tmp_path: Path, kind: str, column: str, value: str, reason: str
) -> None:
    artists, artworks, line = await _hostile_case(tmp_path, kind, column, value, reason)
    for strict in (True, False):
        with pytest.raises(ImportValidationError) as caught:
            await _import(empty_db, artists_csv=artists, artworks_csv=artworks, strict=strict)
        assert line in str(caught.value)
        assert await count_rows(empty_db, "artists") == 0


@pytest.mark.parametrize(("kind", "column", "value", "reason"), UNREADABLE_VALUES)
async def test_unreadable_values_are_problems_in_strict_mode_and_warnings_otherwise(
    empty_db: Database, tmp_path: Path, kind: str, column: str, value: str, reason: str
) -> None:
    artists, artworks, line = await _hostile_case(tmp_path, kind, column, value, reason)
    with pytest.raises(ImportValidationError) as caught:
        await _import(empty_db, artists_csv=artists, artworks_csv=artworks, strict=True)
    assert line in str(caught.value)
    assert await count_rows(empty_db, "artists") == 0
    # Without --strict the row is kept, the value is missing, and the warning says why.
    report = await _import(empty_db, artists_csv=artists, artworks_csv=artworks)
    assert (report.artists["new"], report.artworks["new"]) == (1, 1)
    assert len(report.warnings) == 1
    assert str(report.warnings[0]).startswith(line)
    assert line in report.summary()
    stored_as = {"acquisition_year": "acquired_at", "width_mm": "width_cm"}.get(column, column)
    [stored] = await fetch_rows(empty_db, f"SELECT {stored_as} AS value FROM {kind}")
    assert stored["value"] is None


def test_cli_hostile_inputs_fail_in_one_line(empty_db: Database, tmp_path: Path) -> None:
    """Every hostile input through the command: exit 2, one line on stderr, no traceback."""
    cases: list[tuple[str, str]] = []
    huge = tmp_path / "huge"
    huge.mkdir()
    (huge / "a.csv").write_text(ONE_ARTIST, encoding="utf-8")
    (huge / "w.csv").write_text(
        'id,artist_id,title\nW1,A1,"' + "x\n" * 5_000_000 + '"\n', encoding="utf-8"
    )
    cases.append(("huge", "w.csv, line 2, column title: longer than"))
    for index, (kind, column, value, reason) in enumerate(HOSTILE_VALUES):
        folder = tmp_path / f"hostile{index}"
        folder.mkdir()
        _hostile_files(folder, kind, column, value)
        cases.append((folder.name, f"line 2, column {column}: {reason}"))
    for name, expected in cases:
        folder = tmp_path / name
        result = run_cli(
            "import",
            "--artists",
            str(folder / "a.csv"),
            "--artworks",
            str(folder / "w.csv"),
            "--strict",
            "--no-progress",
            database_url=empty_db.url,
        )
        assert result.returncode == 2, (name, result.stderr)
        assert "Traceback" not in result.stderr
        summary, first, *others = result.stderr.splitlines()
        assert summary.startswith("error: ")
        assert summary.endswith("nothing was written:")
        assert expected in first, (name, result.stderr)
        # Only the artwork of a rejected artist may follow, saying so.
        assert all("its artist (id 'A1') is rejected" in line for line in others), others


# -- finding 15: physical line numbers; header-only files ----------------------------------


async def test_line_numbers_are_physical_lines_after_a_million_blank_lines(
    empty_db: Database, tmp_path: Path
) -> None:
    content = "id,name\n" + "\n" * 1_000_000 + "A1,\n"
    artists = await _file(tmp_path / "a.csv", content)
    with pytest.raises(ImportValidationError) as caught:
        await _import(empty_db, artists_csv=artists)
    assert "a.csv, line 1000002, column name: a value is required" in str(caught.value)


async def test_line_numbers_count_the_lines_of_multi_line_fields(
    empty_db: Database, tmp_path: Path
) -> None:
    content = 'id,name,nationality\r\nA1,"Ada\r\nLove\rlace",\r\nA2,Bob,\r\n\r\nA3,,\r\n'
    artists = await _file(tmp_path / "a.csv", content)
    with pytest.raises(ImportValidationError) as caught:
        await _import(empty_db, artists_csv=artists)
    assert "a.csv, line 7, column name: a value is required" in str(caught.value)


async def test_header_only_files_write_nothing(empty_db: Database, tmp_path: Path) -> None:
    artists = await _file(tmp_path / "a.csv", "id,name\n")
    artworks = await _file(tmp_path / "w.csv", "id,artist_id,title\n\n")
    before = await table_checksums(empty_db)
    report = await _import(
        empty_db, artists_csv=artists, artworks_csv=artworks, owner_email="o@x.y"
    )
    assert report.artists == {"new": 0, "updated": 0, "unchanged": 0}
    assert report.artworks == {"new": 0, "updated": 0, "unchanged": 0}
    assert await count_rows(empty_db, "users") == 0  # not even the owner
    assert await table_checksums(empty_db) == before


# -- real collections: works with no artist, unparseable optional fields ---------------------


async def test_works_without_an_artist_belong_to_one_unknown_artist_per_source(
    empty_db: Database, tmp_path: Path
) -> None:
    artworks = await _file(
        tmp_path / "w.csv",
        "id,artist_id,title,width_mm\n"
        "W1,A1,Known,100\n"
        "W2,,Workshop piece,(left): 100\n"
        "W3,,Attributed,200\n",
    )
    report = await _import(empty_db, artworks_csv=artworks)
    assert report.artworks["new"] == 3
    assert report.artists["new"] == 4  # the file's artists; the unknown artist is not one
    assert report.unknown_artist_works == 2
    assert "2 artworks with no artist (imported as 'Unknown artist')" in report.summary()
    [warning] = report.warnings
    assert str(warning).startswith("w.csv, line 3, column width_mm: expected a number")
    works = await fetch_rows(
        empty_db,
        "SELECT w.source_id, w.width_cm, a.name, a.source FROM artworks w "
        "JOIN artists a ON a.id = w.artist_id ORDER BY w.source_id",
    )
    assert [(w["source_id"], w["name"]) for w in works] == [
        ("W1", "Turner, Joseph Mallord William"),
        ("W2", "Unknown artist"),
        ("W3", "Unknown artist"),
    ]
    assert works[1]["width_cm"] is None
    assert {w["source"] for w in works} == {"trust"}
    # Idempotent: the same files again change nothing, and there is still one unknown artist.
    before = await table_checksums(empty_db)
    again = await _import(empty_db, artworks_csv=artworks)
    assert again.artworks == {"new": 0, "updated": 0, "unchanged": 3}
    assert await table_checksums(empty_db) == before
    # Another source has its own unknown artist.
    await _import(empty_db, artworks_csv=artworks, source="other")
    unknown = await fetch_rows(
        empty_db,
        "SELECT source FROM artists WHERE source_id = '(unknown artist)' ORDER BY source",
    )
    assert [u["source"] for u in unknown] == ["other", "trust"]
    # Panels show them under that name.
    overview = await DashboardService(empty_db).get_gallery_overview()
    assert not overview.failed


async def test_no_unknown_artist_when_every_work_has_one(empty_db: Database) -> None:
    report = await _import(empty_db)
    assert report.unknown_artist_works == 0
    assert await count_rows(empty_db, "artists") == 4


async def test_strict_rejects_works_without_an_artist(empty_db: Database, tmp_path: Path) -> None:
    artworks = await _file(tmp_path / "w.csv", "id,artist_id,title\nW1,,Anonymous\n")
    with pytest.raises(
        ImportValidationError, match="line 2, column artist_id: a value is required"
    ):
        await _import(empty_db, artworks_csv=artworks, strict=True)
    assert await count_rows(empty_db, "artists") == 0


async def test_an_artist_id_naming_no_artist_stays_an_error(
    empty_db: Database, tmp_path: Path
) -> None:
    artworks = await _file(tmp_path / "w.csv", "id,artist_id,title\nW1,A404,Lost\n")
    with pytest.raises(ImportValidationError, match=r"matches no artist \(id 'A404'\)"):
        await _import(empty_db, artworks_csv=artworks)


async def test_the_reserved_unknown_artist_id_cannot_be_used_by_a_file(
    empty_db: Database, tmp_path: Path
) -> None:
    reserved = loader.UNKNOWN_ARTIST_SOURCE_ID
    artists = await _file(tmp_path / "a.csv", f"id,name\n{reserved},Impostor\n")
    artworks = await _file(tmp_path / "w.csv", f"id,artist_id,title\nW1,{reserved},Work\n")
    with pytest.raises(ImportValidationError, match="is reserved"):
        await _import(empty_db, artists_csv=artists, artworks_csv=artworks)


async def test_warnings_go_to_the_rejects_file_with_file_line_and_column(
    empty_db: Database, tmp_path: Path
) -> None:
    artists = await _file(
        tmp_path / "a.csv", "id,name,birth_year,death_year\nA1,Ada,1815,1852\nA2,,1900,\n"
    )
    artworks = await _file(
        tmp_path / "w.csv", "id,artist_id,title,height_mm\nW1,A1,Notes,(left):\n"
    )
    rejects = tmp_path / "out" / "rejects.csv"
    report = await _import(
        empty_db,
        artists_csv=artists,
        artworks_csv=artworks,
        skip_invalid=True,
        rejects_path=rejects,
    )
    assert (report.artists["new"], report.artworks["new"], report.rejected) == (1, 1, 1)
    rows = await asyncio.to_thread(_read_csv, rejects)
    assert [(r["file"], r["line"], r["column"], r["action"]) for r in rows] == [
        ("a.csv", "3", "name", "row rejected"),
        ("w.csv", "2", "height_mm", "value left empty"),
    ]
    assert "expected a number of millimetres, got '(left):'" in rows[1]["reason"]


# -- finding 4: the rejects file never replaces a file the run did not create ----------------


async def test_rejects_never_overwrite_an_input_or_an_existing_file(
    empty_db: Database, tmp_path: Path
) -> None:
    artists = await _file(tmp_path / "a.csv", "id,name\nA1,Ada\nA2,\n")
    artworks = await _file(tmp_path / "w.csv", ONE_ARTWORK)
    original = await asyncio.to_thread(artists.read_bytes)
    for force in (False, True):  # an input is protected even with --force
        with pytest.raises(OutputPathError, match=r"rejects: .*input"):
            await _import(
                empty_db,
                artists_csv=artists,
                artworks_csv=artworks,
                skip_invalid=True,
                rejects_path=artists,
                force=force,
            )
    assert await asyncio.to_thread(artists.read_bytes) == original
    existing = await _file(tmp_path / "notes.csv", "keep me\n")
    with pytest.raises(OutputPathError, match="already exists; pass --force"):
        await _import(
            empty_db,
            artists_csv=artists,
            artworks_csv=artworks,
            skip_invalid=True,
            rejects_path=existing,
        )
    assert await asyncio.to_thread(existing.read_text) == "keep me\n"
    assert await count_rows(empty_db, "artists") == 0  # refused before anything was written
    await _import(
        empty_db,
        artists_csv=artists,
        artworks_csv=artworks,
        skip_invalid=True,
        rejects_path=existing,
        force=True,
    )
    assert "A2" in await asyncio.to_thread(existing.read_text)


def test_cli_rejects_never_overwrite_the_input(empty_db: Database, tmp_path: Path) -> None:
    artists = tmp_path / "a.csv"
    artists.write_text("id,name\nA1,Ada\nA2,\n", encoding="utf-8")
    (tmp_path / "w.csv").write_text(ONE_ARTWORK, encoding="utf-8")
    result = run_cli(
        "import",
        "--artists",
        str(artists),
        "--artworks",
        str(tmp_path / "w.csv"),
        "--skip-invalid",
        "--rejects",
        str(artists),
        "--force",
        "--no-progress",
        database_url=empty_db.url,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: rejects: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert artists.read_text(encoding="utf-8") == "id,name\nA1,Ada\nA2,\n"


async def test_acquisitions_of_imported_works_stay_plausible(
    empty_db: Database, tmp_path: Path
) -> None:
    artworks = await _file(
        tmp_path / "w.csv",
        "id,artist_id,title,acquisition_year\nW1,A1,Old,1856\nW2,A1,Future,3000\n",
    )
    with pytest.raises(ImportValidationError, match="line 3, column acquisition_year"):
        await _import(empty_db, artworks_csv=artworks)
    report = await _import(
        empty_db, artworks_csv=artworks, skip_invalid=True, rejects_path=tmp_path / "r.csv"
    )
    assert report.rejected == 1
    stored = await fetch_rows(empty_db, "SELECT source_id, acquired_at FROM artworks ORDER BY 1")
    assert stored == [
        {"source_id": "W1", "acquired_at": dt.datetime(1856, 1, 1, tzinfo=dt.UTC)},
    ]
    years = to_frame(
        (await DashboardService(empty_db).get_gallery_overview())["acquisitions_per_year"]
    )
    assert years["year"].tolist() == [1856]
