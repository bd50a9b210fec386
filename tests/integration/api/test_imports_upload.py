"""POST /imports: the sample collection uploaded as a multipart form, checked against
the rows then in the database; invalid rows refused or skipped (their rejects
downloadable); bodies over the limit refused while they stream in; hostile ids on the
rejects route never reach a file outside the API's own directory.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gallery_analytics.api.routes.imports import imports_dir
from gallery_analytics.config import Settings
from gallery_analytics.db.database import Database
from tests.helpers import SAMPLE_ARTISTS, SAMPLE_ARTWORKS, table_checksums
from tests.integration.api.conftest import Tokens, api_client, assert_problem, fetch

BAD_ARTWORKS = (
    b"id,artist_id,title,width_mm\r\n"
    b"W1,A1,The Fighting Temeraire,1219\r\n"
    b"W999,A1,,120\r\n"
    b"W7,A2,Viva la Vida,500\r\n"
)
# Line 3: died before being born (a row the import must reject).
BAD_ARTISTS = (
    b"id,name,birth_year,death_year\r\n"
    b"A1,Turner,1775,1851\r\n"
    b"A9,Backwards,1900,1800\r\n"
    b"A2,Frida Kahlo,1907,1954\r\n"
)


def _read(path: Path) -> bytes:
    return path.read_bytes()


async def sample_files() -> dict[str, tuple[str, bytes, str]]:
    artists, artworks = await asyncio.gather(
        asyncio.to_thread(_read, SAMPLE_ARTISTS), asyncio.to_thread(_read, SAMPLE_ARTWORKS)
    )
    return {
        "artists": ("artists.csv", artists, "text/csv"),
        "artworks": ("artworks.csv", artworks, "text/csv"),
    }


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.fixture
async def importer(fresh_db: Database, fresh_tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(fresh_db, fresh_tokens.imports) as client:
        yield client


async def _imported(db: Database) -> dict[str, list[dict[str, Any]]]:
    return {
        "artists": await fetch(
            db, "SELECT source_id, name FROM artists WHERE source = 'api' ORDER BY source_id"
        ),
        "artworks": await fetch(
            db,
            "SELECT w.source_id, w.title, a.source_id AS artist FROM artworks w "
            "JOIN artists a ON a.id = w.artist_id WHERE w.source = 'api' ORDER BY w.source_id",
        ),
    }


async def test_a_valid_import_reports_what_is_then_in_the_database(
    importer: httpx.AsyncClient, fresh_db: Database
) -> None:
    files = await sample_files()
    response = await importer.post("/imports", files=files)
    assert response.status_code == 200, response.text
    report = response.json()
    rows = await _imported(fresh_db)
    artists_csv = _csv_rows(files["artists"][1])
    artworks_csv = _csv_rows(files["artworks"][1])
    # What the report says was new is what is there now, row for row with the files.
    assert report["artists"] == {"new": len(rows["artists"]), "updated": 0, "unchanged": 0}
    assert report["artworks"] == {"new": len(rows["artworks"]), "updated": 0, "unchanged": 0}
    assert [(r["source_id"], r["name"]) for r in rows["artists"]] == sorted(
        (r["id"], r["name"]) for r in artists_csv
    )
    assert [(r["source_id"], r["title"], r["artist"]) for r in rows["artworks"]] == sorted(
        (r["id"], r["title"], r["artist_id"]) for r in artworks_csv
    )
    assert report["rejected"] == 0
    assert report["rejects_url"] is None
    assert report["dry_run"] is False
    assert report["ignored_columns"] == {"artists": ["url"], "artworks": ["thumbnail"]}
    uuid.UUID(report["id"])
    # Nothing of the upload is left behind.
    assert not await asyncio.to_thread((imports_dir() / report["id"]).exists)

    again = await importer.post("/imports", files=files)
    assert again.status_code == 200, again.text
    assert again.json()["artists"] == {"new": 0, "updated": 0, "unchanged": len(artists_csv)}
    assert again.json()["artworks"] == {"new": 0, "updated": 0, "unchanged": len(artworks_csv)}
    assert await _imported(fresh_db) == rows


async def test_a_dry_run_counts_and_writes_nothing(
    importer: httpx.AsyncClient, fresh_db: Database
) -> None:
    before = await table_checksums(fresh_db)
    response = await importer.post("/imports", files=await sample_files(), data={"dry_run": "true"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["dry_run"] is True
    assert report["artists"]["new"] == 4
    assert report["artworks"]["new"] == 6
    assert "would import" in report["summary"]
    assert await table_checksums(fresh_db) == before


def _bad_files() -> dict[str, tuple[str, bytes, str]]:
    return {
        "artists": ("whatever-the-client-calls-it.csv", BAD_ARTISTS, "text/csv"),
        "artworks": ("artworks.csv", BAD_ARTWORKS, "text/csv"),
    }


async def test_invalid_rows_are_a_422_listing_each_and_nothing_is_written(
    importer: httpx.AsyncClient, fresh_db: Database
) -> None:
    before = await table_checksums(fresh_db)
    response = await importer.post("/imports", files=_bad_files())
    body = assert_problem(response, 422)
    found = {(p["file"], p["line"], p["column"]) for p in body["problems"]}
    # Files are named by their form field, whatever the client called them.
    assert found == {("artists.csv", 3, "death_year"), ("artworks.csv", 3, "title")}
    assert all(p["reason"] for p in body["problems"])
    assert "nothing was written" in body["detail"]
    assert await table_checksums(fresh_db) == before


async def test_skip_invalid_imports_the_rest_and_offers_the_rejects(
    importer: httpx.AsyncClient, fresh_db: Database, fresh_tokens: Tokens
) -> None:
    response = await importer.post("/imports", files=_bad_files(), data={"skip_invalid": "1"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["rejected"] == 2
    rows = await _imported(fresh_db)
    assert [r["source_id"] for r in rows["artists"]] == ["A1", "A2"]
    assert [r["source_id"] for r in rows["artworks"]] == ["W1", "W7"]
    assert report["artists"]["new"] == 2
    assert report["artworks"]["new"] == 2
    assert report["rejects_url"] == f"/imports/{report['id']}/rejects"
    # Only the rejects are kept, not the uploaded files.
    kept = await asyncio.to_thread(
        lambda: sorted(p.name for p in (imports_dir() / report["id"]).iterdir())
    )
    assert kept == ["rejects.csv"]

    rejects = await importer.get(report["rejects_url"])
    assert rejects.status_code == 200, rejects.text
    assert rejects.headers["content-type"].startswith("text/csv")
    lines = _csv_rows(rejects.content)
    assert {(r["file"], r["line"], r["column"]) for r in lines} == {
        ("artists.csv", "3", "death_year"),
        ("artworks.csv", "3", "title"),
    }
    raw = {r["file"]: r["row"] for r in lines}
    assert raw["artists.csv"] == "id=A9|name=Backwards|birth_year=1900|death_year=1800"
    assert raw["artworks.csv"].startswith("id=W999|artist_id=A1|")

    # The rejects are the import scope's: a read or write token gets a 403.
    for token in (fresh_tokens.read, fresh_tokens.write):
        async with api_client(fresh_db, token) as other:
            assert_problem(await other.get(report["rejects_url"]), 403)


LIMIT = 4096


@pytest.fixture
async def small_limit(fresh_db: Database, fresh_tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_max_upload_bytes=LIMIT)
    async with api_client(fresh_db, fresh_tokens.imports, settings=settings) as client:
        yield client


async def test_an_upload_over_the_limit_with_a_content_length_is_a_413(
    small_limit: httpx.AsyncClient, fresh_db: Database
) -> None:
    before = await table_checksums(fresh_db)
    files = await sample_files()
    files["artists"] = ("artists.csv", files["artists"][1] + b"A9,x\r\n" * 2000, "text/csv")
    response = await small_limit.post("/imports", files=files)
    body = assert_problem(response, 413)
    assert body["limit_bytes"] == LIMIT
    assert await table_checksums(fresh_db) == before
    # Under the limit, the same server imports.
    assert (await small_limit.post("/imports", files=await sample_files())).status_code == 200


def _multipart(boundary: str, parts: dict[str, bytes]) -> bytes:
    body = b""
    for name, content in parts.items():
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{name}.csv"\r\nContent-Type: text/csv\r\n\r\n'
            ).encode()
            + content
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode()


async def test_a_chunked_upload_over_the_limit_is_a_413_before_it_ends(
    small_limit: httpx.AsyncClient, fresh_db: Database
) -> None:
    """No Content-Length: the body is counted as it arrives and refused when it passes
    the limit, not read to its end (the client here would send 100 MB)."""
    before = await table_checksums(fresh_db)
    boundary = "gallery-test-boundary"
    files = await sample_files()
    head = _multipart(boundary, {"artworks": files["artworks"][1]})[: -len(f"--{boundary}--\r\n")]
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="artists"; '
        'filename="artists.csv"\r\nContent-Type: text/csv\r\n\r\nid,name\r\n'
    ).encode()
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield head
        for _ in range(100_000):
            sent += 1
            yield b"A1,x\r\n" * 170  # ~1 kB a chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await small_limit.post(
        "/imports",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413)
    assert sent < 100, f"{sent} chunks were read after the limit"
    assert await table_checksums(fresh_db) == before


async def test_a_chunked_upload_under_the_limit_is_imported(
    importer: httpx.AsyncClient, fresh_db: Database
) -> None:
    files = await sample_files()
    boundary = "gallery-test-boundary"
    data = _multipart(boundary, {"artists": files["artists"][1], "artworks": files["artworks"][1]})

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 100):
            yield data[start : start + 100]

    response = await importer.post(
        "/imports",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 200, response.text
    assert len((await _imported(fresh_db))["artworks"]) == response.json()["artworks"]["new"] == 6


@pytest.mark.parametrize(
    ("data", "files", "field"),
    [
        ({}, ["artists"], "artworks"),
        ({}, ["artworks"], "artists"),
        ({}, [], "artists"),
        ({"dry_run": "maybe"}, ["artists", "artworks"], "dry_run"),
        ({"surprise": "1"}, ["artists", "artworks"], "surprise"),
    ],
)
async def test_a_form_without_its_files_or_with_bad_fields_is_a_422_naming_them(
    importer: httpx.AsyncClient,
    fresh_db: Database,
    data: dict[str, str],
    files: list[str],
    field: str,
) -> None:
    before = await table_checksums(fresh_db)
    sample = await sample_files()
    chosen = {name: sample[name] for name in files}
    if not chosen:  # a multipart form with no CSV file at all
        chosen = {"artists_csv": ("artists.csv", sample["artists"][1], "text/csv")}
    response = await importer.post("/imports", data=data, files=chosen)
    assert_problem(response, 422, field=field)
    assert await table_checksums(fresh_db) == before


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"artists": "A1,Turner"}', "application/json"),
        (b"artists=A1&artworks=W1", "application/x-www-form-urlencoded"),
        (b"id,name\r\nA1,x\r\n", "text/csv"),
        (b"", "multipart/form-data; boundary=x"),
        (b"--x\r\nnot a part\r\n", "multipart/form-data"),
    ],
)
async def test_a_body_that_is_not_a_multipart_form_is_a_422(
    importer: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    response = await importer.post(
        "/imports", content=content, headers={"Content-Type": content_type}
    )
    body = assert_problem(response, 422)
    assert body["field"] in ("body", "artists")


@pytest.mark.parametrize(
    "import_id",
    [
        "..",
        "...",
        "%2e%2e",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "..%5C..%5Cetc%5Cpasswd",
        "%2Fetc%2Fpasswd",
        "~root",
        "00000000-0000-0000-0000-000000000000",
        str(uuid.uuid4()),
        "{" + str(uuid.uuid4()) + "}",
        "a" * 500,
        "%00",
    ],
)
async def test_a_hostile_rejects_id_is_a_404_or_422_never_a_file(
    importer: httpx.AsyncClient, import_id: str
) -> None:
    url = httpx.URL(f"http://api.test/imports/{import_id}/rejects")
    response = await importer.get(url)
    assert response.status_code in (404, 422), response.text
    assert_problem(response, response.status_code)
    assert "root:" not in response.text


async def test_the_rejects_route_serves_only_the_rejects_file(
    importer: httpx.AsyncClient,
) -> None:
    """An import directory with no rejects (a clean import) has nothing to download."""
    response = await importer.post("/imports", files=await sample_files())
    assert response.status_code == 200, response.text
    assert_problem(await importer.get(f"/imports/{response.json()['id']}/rejects"), 404)
