"""The API as deployed: ``gallery-analytics serve`` in its own process, reached over
TCP, with tokens made by ``gallery-analytics api-token``.

The disconnect test is the one the in-process tests cannot give: a client that hangs
up mid-overview must leave no query running on the server and no connection out of the
pool. Its panels are made to wait on a table lock, so what is checked (nothing from the
API still active while the lock is held) can only hold if the server cancelled them.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest
from sqlalchemy.engine import URL

from gallery_analytics.db.database import APPLICATION_NAME, Database
from tests.browser.harness import burn_cpus
from tests.integration.api.served import ServedApi, cli, serve_api

DATA = Path(__file__).resolve().parents[2] / "data" / "collection"


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _fetch(url: URL, query: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(_dsn(url))
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    return asyncio.run(run())


class TableLock:
    """``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`` held by the schema owner in a thread of
    its own until released: every query that reads the table waits for it."""

    def __init__(self, url: URL, table: str) -> None:
        self._url, self._table = url, table
        self._locked, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._hold()), daemon=True)

    async def _hold(self) -> None:
        connection = await asyncpg.connect(_dsn(self._url))
        try:
            async with connection.transaction():
                await connection.execute(f"LOCK TABLE {self._table} IN ACCESS EXCLUSIVE MODE")
                self._locked.set()
                await asyncio.to_thread(self._release.wait)
        finally:
            await connection.close()

    def __enter__(self) -> TableLock:
        self._thread.start()
        assert self._locked.wait(30), "could not lock the table"
        return self

    def __exit__(self, *_: object) -> None:
        self._release.set()
        self._thread.join(30)


@pytest.fixture
def served(fresh_db: Database, tmp_path: Path) -> Iterator[ServedApi]:
    with serve_api(fresh_db, tmp_path / "api.log") as api:
        yield api


def _token(db: Database, name: str, *scopes: str) -> str:
    args = [item for scope in scopes for item in ("--scope", scope)]
    token = cli(db, "api-token", "create", name, *args).strip()
    assert re.fullmatch(r"gat_[\w-]{12}_[\w-]{43}", token), token
    return token


def _first_id(db: Database, table: str) -> str:
    rows = _fetch(db.admin_url, f"SELECT id::text FROM {table} ORDER BY id LIMIT 1")
    return str(rows[0][0])


def test_the_served_api_checks_tokens_reads_writes_and_revokes(
    served: ServedApi, fresh_db: Database
) -> None:
    reader = _token(fresh_db, "reader", "read")
    writer = _token(fresh_db, "writer", "write", "read")
    artwork_id = _first_id(fresh_db, "artworks")
    owner_id = _first_id(fresh_db, "users")

    with served.client(reader) as client:
        got = client.get(f"/artworks/{artwork_id}")
        assert got.status_code == 200
        [row] = _fetch(
            fresh_db.admin_url,
            "SELECT title, artist_id::text FROM artworks WHERE id = $1::uuid",
            artwork_id,
        )
        assert (got.json()["title"], got.json()["artist_id"]) == (row[0], row[1])
        refused = client.post("/artists", json={"owner_id": owner_id, "artist": {"name": "X"}})
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"

    with served.client() as anonymous:
        missing = anonymous.get(f"/artworks/{artwork_id}")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"

    with served.client(writer) as client:
        made = client.post(
            "/artists",
            json={"owner_id": owner_id, "artist": {"name": "Served Artist"}},
        )
        assert made.status_code == 201, made.text
        assert client.get(made.headers["location"]).json()["name"] == "Served Artist"

    cli(fresh_db, "api-token", "revoke", "reader")
    with served.client(reader) as client:  # the next request, no restart
        assert client.get(f"/artworks/{artwork_id}").status_code == 401

    log = served.log.read_text()
    for secret in (reader, writer, reader.split("_")[-1], writer.split("_")[-1]):
        assert secret not in log


def test_docs_and_openapi_work_offline(served: ServedApi) -> None:
    with served.client() as client:
        spec = client.get("/openapi.json").json()
        assert {"/artworks/{artwork_id}", "/overview/{panel}", "/imports"} <= set(spec["paths"])
        page = client.get("/docs").text
        external = re.findall(r"""(?:src|href)=["'](https?:)?//""", page)
        assert external == [], "docs load something from another host"
        assets = re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", page)
        assert assets
        for asset in assets:
            assert client.get(asset).status_code == 200, asset


def _app_queries(db: Database, server_url: URL) -> list[asyncpg.Record]:
    """The API's backends on ``db`` that are doing something (not idle)."""
    return _fetch(
        server_url.set(database=db.url.database),
        "SELECT state, wait_event_type, query FROM pg_stat_activity "
        "WHERE datname = $1 AND application_name = $2 AND state <> 'idle'",
        db.url.database,
        APPLICATION_NAME,
    )


def _wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_client_that_hangs_up_mid_overview_leaves_no_query_running(
    served: ServedApi, fresh_db: Database, server_url: URL
) -> None:
    token = _token(fresh_db, "viewer", "read")
    port = int(served.url.rsplit(":", 1)[1])
    with burn_cpus(), TableLock(fresh_db.admin_url, "sales"):
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        request = (
            f"GET /overview HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        client.sendall(request.encode())
        _wait_for(
            lambda: any(r["wait_event_type"] == "Lock" for r in _app_queries(fresh_db, server_url)),
            30,
            "the overview's queries never reached the locked table",
        )
        client.close()  # the analyst closed the tab
        # Still locked: only a server that cancelled its queries has none running now.
        _wait_for(
            lambda: _app_queries(fresh_db, server_url) == [],
            15,
            f"queries still running after the client left: {_app_queries(fresh_db, server_url)}",
        )
    # Every connection came back: more concurrent overviews than the pool has connections.
    with served.client(token) as api, ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: api.get("/overview").status_code, range(12)))
    assert answers == [200] * 12


def test_an_upload_with_rejects_and_one_too_large(fresh_db: Database, tmp_path: Path) -> None:
    artworks = (
        b"id,artist_id,title,width_mm\r\nW1,A1,The Fighting Temeraire,1219\r\nW999,A1,,120\r\n"
    )
    limit = {"GALLERY_API_MAX_UPLOAD_BYTES": str(64 * 1024)}
    with serve_api(fresh_db, tmp_path / "api.log", env=limit) as api:
        token = _token(fresh_db, "importer", "import")
        files = {
            "artists": ("artists.csv", (DATA / "artists.csv").read_bytes(), "text/csv"),
            "artworks": ("artworks.csv", artworks, "text/csv"),
        }
        with api.client(token) as client:
            refused = client.post("/imports", files=files)
            assert refused.status_code == 422, refused.text
            [problem] = refused.json()["problems"]
            assert (problem["file"], problem["line"], problem["column"]) == (
                "artworks.csv",
                3,
                "title",
            )
            done = client.post("/imports", files=files, data={"skip_invalid": "true"})
            assert done.status_code == 200, done.text
            report = done.json()
            assert report["rejected"] == 1
            rejects = client.get(report["rejects_url"])
            assert rejects.status_code == 200
            assert "W999" in rejects.text
            huge = {
                "artists": ("artists.csv", b"x" * (200 * 1024), "text/csv"),
                **{"artworks": files["artworks"]},
            }
            too_large = client.post("/imports", files=huge)
            assert too_large.status_code == 413
            assert too_large.json()["limit_bytes"] == 64 * 1024


def test_two_workers_serve_and_sigterm_ends_them_all(fresh_db: Database, tmp_path: Path) -> None:
    with serve_api(fresh_db, tmp_path / "api.log", options=["--workers", "2"]) as api:
        token = _token(fresh_db, "reader", "read")
        workers = [p for p in api.processes() if p.pid != api.process.pid]
        assert len([p for p in workers if "multiprocessing" in " ".join(p.cmdline())]) >= 2
        with api.client(token) as client, ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: client.get("/users").status_code, range(40)))
        # /users lists nothing (no such route): a problem body, from whichever worker.
        assert set(codes) == {404}
        everything = api.processes()
        api.process.send_signal(signal.SIGTERM)
        api.process.wait(timeout=30)
        _gone, alive = psutil.wait_procs(everything, timeout=15)
        assert alive == []
