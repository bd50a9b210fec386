"""The API as deployed: the ``gallery-analytics serve`` console script in a process of
its own, on a free loopback port, against the test database (its role URLs with a
password), reached over TCP with httpx and raw sockets; tokens come from the
``gallery-analytics api-token`` command.

What only a real server shows: uvicorn's own handling of a client that goes away (the
disconnect test: queries cancelled on the server while the lock they wait on is still
held, and every pool connection usable again), several worker processes, SIGTERM ending
the whole process tree, and what the server process writes to its logs.
Concurrency tests run beside a CPU-burning process per core.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import signal
import socket
import struct
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.engine import URL
from starlette.routing import BaseRoute

from gallery_analytics.api.app import create_app
from gallery_analytics.db.database import Database
from gallery_analytics.db.roles import APP_ROLES
from gallery_analytics.db.schema import HEAD_REVISION
from gallery_analytics.services.catalog import CatalogService
from tests.browser.harness import burn_cpus
from tests.integration.api.serve_harness import (
    Server,
    TableLock,
    api_backends,
    command,
    create_token,
    environment,
    fetch,
    lock_waiters,
    run_async,
    serve,
    stop,
    wait_for,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "collection"
PROBLEM_JSON = "application/problem+json"
# A panel whose query reads the sales table (so it waits on the lock the tests take).
SALES_PANEL = "monthly_revenue"
# What it reads: the sales rollups of migration 0006 (and sales, for partial months).
SALES_TABLES = "sales, rollup_sales_monthly, rollup_sales_daily"
# Bounds for what the server does on its own; generous for a machine with every core busy.
CANCEL_SECONDS = 10.0
LOCK_WAIT_SECONDS = 60.0
SIGTERM_SECONDS = 30.0


@pytest.fixture
def password() -> str:
    """The database password the server is configured with (unique, so searchable)."""
    return f"pw-{secrets.token_urlsafe(24)}"


@pytest.fixture
def env(fresh_db: Database, password: str) -> dict[str, str]:
    return environment(fresh_db, password)


@pytest.fixture
def served(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    with serve(env, tmp_path / "serve") as server:
        yield server


def _first(db: Database, query: str) -> list[str]:
    """The first row of ``query`` (run as the schema owner), as text."""
    [row] = fetch(db.admin_url, query)
    return [str(value) for value in row]


def _catalog(db: Database, call: Callable[[CatalogService], Any]) -> Any:
    """What CatalogService answers on a read session of ``db`` (a Database of its own, on
    a loop of its own), as the JSON the API should send."""

    async def go() -> Any:
        database = Database(db.url, read_url=db.read_url, admin_url=db.admin_url)
        async with database, database.read_session() as session:
            result: BaseModel = await call(CatalogService(session))
            return result.model_dump(mode="json")

    return run_async(go)


def _is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


# -- health, OpenAPI, docs ---------------------------------------------------------------------


def _api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(path, method) of every documented route, included routers walked into (FastAPI
    keeps an included router as one route holding the original router)."""
    for route in routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            yield from ((prefix + route.path, method) for method in route.methods or ())
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _api_routes(inner.routes, prefix + getattr(context, "prefix", ""))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"a reference outside the document: {ref}"
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_health_openapi_and_docs_are_served_offline(served: Server) -> None:
    with served.client() as client:
        assert client.get("/health/live").json() == {"status": "live"}
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "schema_revision": HEAD_REVISION}

        spec = client.get("/openapi.json").json()
        assert re.fullmatch(r"3\.\d+\.\d+", spec["openapi"])
        assert spec["info"]["title"]
        assert spec["info"]["version"]
        # Every route the app has is documented, with each of its methods.
        routes = list(_api_routes(create_app().routes))
        assert len(routes) >= 16, routes
        for path, method in routes:
            assert method.lower() in spec["paths"].get(path, {}), (method, path)
        operations = [
            operation
            for item in spec["paths"].values()
            for method, operation in item.items()
            if method in {"get", "post", "put", "patch", "delete"}
        ]
        ids = [operation["operationId"] for operation in operations]
        assert len(ids) == len(set(ids)), "operationIds must be unique"
        assert all(operation["responses"] for operation in operations)
        for ref in set(_refs(spec)):  # every $ref resolves inside the document
            assert isinstance(_resolve(spec, ref), dict), ref

        page = client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "cdn" not in page.text.lower(), "the docs name a CDN"
        assert not re.search(r"https?://", page.text), "the docs load something from elsewhere"
        assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
        assert assets, page.text
        assert "'/openapi.json'" in page.text or '"/openapi.json"' in page.text
        for asset in assets:
            assert re.match(r"/[^/]", asset), asset
            loaded = client.get(asset)
            assert loaded.status_code == 200, asset
            assert loaded.content, asset


# -- tokens, reads, writes ---------------------------------------------------------------------


def test_tokens_gate_reads_and_writes_and_revocation_applies_at_once(
    served: Server, env: dict[str, str], fresh_db: Database, tmp_path: Path
) -> None:
    reader = create_token(env, tmp_path, "reader", "read")
    spare = create_token(env, tmp_path, "spare-reader", "read")
    writer = create_token(env, tmp_path, "writer", "write")
    importer = create_token(env, tmp_path, "importer", "import")
    artwork_id, artist_id, owner_id = _first(
        fresh_db, "SELECT id, artist_id, owner_id FROM artworks ORDER BY id LIMIT 1"
    )

    with served.client(reader) as client:
        got = client.get(f"/artworks/{artwork_id}")
        assert got.status_code == 200, got.text
        assert got.json() == _catalog(fresh_db, lambda c: c.get_artwork(artwork_id))
        page = client.get(f"/users/{owner_id}/artworks", params={"limit": 3})
        assert page.status_code == 200, page.text
        expected = _catalog(fresh_db, lambda c: c.artworks_page(user_id=owner_id, limit=3))
        assert page.json() == expected
        _is_problem(client.post("/artworks", json={}), 403)  # a reader cannot write

    new = {"artist_id": artist_id, "owner_id": owner_id, "title": "Served over TCP"}
    with served.client(writer) as client:
        made = client.post("/artworks", json=new)
        assert made.status_code == 201, made.text
        _is_problem(client.get(f"/artworks/{artwork_id}"), 403)  # write does not imply read
    with served.client(reader) as client:
        seen = client.get(made.headers["location"])
        assert seen.status_code == 200
        assert seen.json()["title"] == "Served over TCP"
        assert seen.json() == made.json()
        assert seen.json() == _catalog(fresh_db, lambda c: c.get_artwork(made.json()["id"]))
    with served.client(importer) as client:
        _is_problem(client.get(f"/artworks/{artwork_id}"), 403)
        _is_problem(client.post("/artworks", json=new), 403)

    with served.client() as anonymous:
        missing = _is_problem(anonymous.get(f"/artworks/{artwork_id}"), 401)
        assert missing["detail"]
        assert anonymous.get(f"/artworks/{artwork_id}").headers["www-authenticate"] == "Bearer"
        _is_problem(anonymous.post("/artworks", json=new), 401)
    for bad in ("not-a-token", reader[:-1] + ("A" if reader[-1] != "A" else "B")):
        with served.client(bad) as client:
            _is_problem(client.get(f"/artworks/{artwork_id}"), 401)

    with served.client(reader) as client:  # one keep-alive connection, before and after
        assert client.get(f"/artworks/{artwork_id}").status_code == 200
        command(env, tmp_path, "api-token", "revoke", "reader")
        _is_problem(client.get(f"/artworks/{artwork_id}"), 401)  # the next request, no restart
    with served.client(spare) as client:  # only that token
        assert client.get(f"/artworks/{artwork_id}").status_code == 200


# -- problems and credentials ------------------------------------------------------------------


def _secrets_in(text: str, secrets_: dict[str, str]) -> list[str]:
    return [name for name, value in secrets_.items() if value and value in text]


def test_problem_bodies_and_logs_hold_no_credential(
    fresh_db: Database, server_url: URL, password: str, tmp_path: Path
) -> None:
    """Every kind of problem the real server gives (401, 403, 404, 413, 422, the
    database's 503 and 504 included) names no password, token, socket path, role or
    driver; nor does anything the server process logged."""
    tight = {
        "GALLERY_POOL_SIZE": "1",
        "GALLERY_POOL_MAX_OVERFLOW": "0",
        "GALLERY_POOL_TIMEOUT_SECONDS": "1",
        "GALLERY_STATEMENT_TIMEOUT_SECONDS": "8",
        "GALLERY_API_MAX_UPLOAD_BYTES": "4096",
    }
    env = environment(fresh_db, password, tight)
    reader = create_token(env, tmp_path, "reader", "read")
    writer = create_token(env, tmp_path, "writer", "write")
    importer = create_token(env, tmp_path, "importer", "import")
    forged = "gat_" + "A" * 12 + "_" + secrets.token_urlsafe(32)[:43]
    artwork_id, artist_id, owner_id = _first(
        fresh_db, "SELECT id, artist_id, owner_id FROM artworks ORDER BY id LIMIT 1"
    )
    problems: list[httpx.Response] = []

    with serve(env, tmp_path / "serve") as server:
        with server.client() as anonymous:
            problems.append(anonymous.get(f"/artworks/{artwork_id}"))
        with server.client(forged) as client:
            problems.append(client.get(f"/artworks/{artwork_id}"))
        with server.client(reader) as client:
            problems.append(client.get(f"/artworks/{uuid.uuid4()}"))
            problems.append(client.get("/artworks/not-an-id"))
            problems.append(client.get(f"/users/{owner_id}/artworks", params={"limit": 0}))
            problems.append(client.get("/no/such/route"))
            problems.append(client.post("/artworks", json={}))
        with server.client(writer) as client:
            bad = {"artist_id": artist_id, "owner_id": owner_id, "title": " ", "width_cm": -1}
            problems.append(client.post("/artworks", json=bad))
        with server.client(importer) as client:
            files = {"artists": ("a.csv", b"x" * 8192), "artworks": ("b.csv", b"")}
            problems.append(client.post("/imports", files=files))

        with TableLock(fresh_db.admin_url, SALES_TABLES), server.client(reader) as client:
            timed_out: list[httpx.Response] = []
            stuck = threading.Thread(
                target=lambda: timed_out.append(client.get(f"/overview/{SALES_PANEL}"))
            )
            stuck.start()
            wait_for(
                lambda: lock_waiters(server_url, fresh_db) == 1,
                LOCK_WAIT_SECONDS,
                lambda: f"the panel never waited on the lock: {api_backends(server_url, fresh_db)}",
            )
            # The one read connection is taken: the next request's token check waits for
            # the pool (1 s) and gets a 503 while the panel still waits (8 s).
            with server.client(reader) as second:
                busy = second.get(f"/artworks/{artwork_id}")
            stuck.join(60)
        problems.extend([busy, *timed_out])
        stop(server)  # its logs are complete

    statuses = [response.status_code for response in problems]
    assert statuses == [401, 401, 404, 422, 422, 404, 403, 422, 413, 503, 504], [
        (r.status_code, r.text) for r in problems
    ]
    assert busy.headers["retry-after"].isdigit()
    socket_dir = str(fresh_db.url.query.get("host", "/nonexistent-socket-dir"))
    hidden = {
        "password": password,
        "reader token": reader,
        "writer token": writer,
        "importer token": importer,
        "forged token": forged,
        # A token is gat_<12-character key id>_<43-character secret>; the secret may
        # itself hold "_", so it is the last 43 characters.
        "reader secret": reader[-43:],
        "writer secret": writer[-43:],
        "importer secret": importer[-43:],
        "forged secret": forged[-43:],
    }
    for response in problems:
        body = _is_problem(response, response.status_code)
        text = response.text
        assert _secrets_in(text, hidden) == [], text
        for leak in (socket_dir, "postgresql", "asyncpg", "sqlalchemy", "Traceback", "SELECT"):
            assert leak.lower() not in text.lower(), (leak, text)
        for role in (APP_ROLES.owner, APP_ROLES.writer, APP_ROLES.reader):
            assert role not in text, (role, text)
        assert body["detail"]
    logs = server.logs()
    assert "Started server process" in logs or "Application startup complete" in logs, logs
    assert _secrets_in(logs, hidden) == [], logs[-3000:]


# -- a client that disconnects mid-overview --------------------------------------------------


def _send_overview(port: int, token: str) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=30)
    request = (
        f"GET /overview HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    client.sendall(request.encode())
    return client


@pytest.mark.parametrize("hang_up", ["close", "reset"])
def test_a_disconnect_mid_overview_cancels_its_queries_and_returns_its_connections(
    fresh_db: Database, server_url: URL, password: str, tmp_path: Path, hang_up: str
) -> None:
    """The overview's panels wait on a lock held by another session; the client hangs
    up (FIN, or RST). While the lock is still held, nothing of the API may be left
    running or waiting on the server: only a server that cancelled its queries gets
    there (finishing them is impossible). Then the pool's every connection must be
    usable again: as many requests as it has connections wait on the lock at once."""
    pool_size = 2
    env = environment(
        fresh_db,
        password,
        {"GALLERY_POOL_SIZE": str(pool_size), "GALLERY_POOL_MAX_OVERFLOW": "0"},
    )
    token = create_token(env, tmp_path, "viewer", "read")
    with serve(env, tmp_path / "serve") as server, burn_cpus():
        with TableLock(fresh_db.admin_url, SALES_TABLES) as lock:
            client = _send_overview(server.port, token)
            wait_for(
                lambda: lock_waiters(server_url, fresh_db) >= 1,
                LOCK_WAIT_SECONDS,
                lambda: f"no panel waited on the lock: {api_backends(server_url, fresh_db)}",
            )
            if hang_up == "reset":
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            wait_for(
                lambda: api_backends(server_url, fresh_db) == [],
                CANCEL_SECONDS,
                lambda: (
                    "the API's queries outlived their client: "
                    f"{api_backends(server_url, fresh_db)}\n{server.logs()[-2000:]}"
                ),
            )
            # Still locked. Every pool connection can be taken again: pool_size
            # single-panel downloads all reach the lock at once (a connection kept by
            # the abandoned request would leave one of them waiting for the pool). Each
            # its own filters: identical ones would share one query (the panel cache).
            with ThreadPoolExecutor(pool_size) as pool, server.client(token) as api:
                downloads = [
                    pool.submit(api.get, f"/overview/{SALES_PANEL}", params={"top_n": 5 + n})
                    for n in range(pool_size)
                ]
                wait_for(
                    lambda: lock_waiters(server_url, fresh_db) == pool_size,
                    LOCK_WAIT_SECONDS,
                    lambda: (
                        f"not every pool connection came back: {api_backends(server_url, fresh_db)}"
                    ),
                )
                lock.release()
                assert [d.result().status_code for d in downloads] == [200] * pool_size
        # More concurrent overviews than the pool has connections: all served.
        with server.client(token) as api, ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: api.get("/overview"), range(12)))
        assert [a.status_code for a in answers] == [200] * 12, answers[0].text
        assert all(panel["status"] == "ok" for panel in answers[0].json()["panels"].values())


# -- imports -------------------------------------------------------------------------------


ARTWORKS_WITH_A_REJECT = (
    b"id,artist_id,title,width_mm\r\n"
    b"W1,A1,The Fighting Temeraire,1219\r\n"
    b"W999,A1,,1000\r\n"  # no title: a required value
)


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


def test_an_upload_with_rejects_and_uploads_too_large(
    fresh_db: Database, password: str, tmp_path: Path
) -> None:
    limit = 64 * 1024
    uploads = tmp_path / "server-tmp"  # the server's temporary directory, ours alone
    uploads.mkdir()
    env = environment(
        fresh_db,
        password,
        {"GALLERY_API_MAX_UPLOAD_BYTES": str(limit), "TMPDIR": str(uploads)},
    )
    importer = create_token(env, tmp_path, "importer", "import")
    reader = create_token(env, tmp_path, "reader", "read")
    files = {
        "artists": ("artists.csv", (DATA / "artists.csv").read_bytes(), "text/csv"),
        "artworks": ("artworks.csv", ARTWORKS_WITH_A_REJECT, "text/csv"),
    }
    with serve(env, tmp_path / "serve") as server:
        with server.client(reader) as client:
            _is_problem(client.post("/imports", files=files), 403)
        with server.client(importer) as client:
            refused = _is_problem(client.post("/imports", files=files), 422)
            assert [(p["file"], p["line"], p["column"]) for p in refused["problems"]] == [
                ("artworks.csv", 3, "title")
            ]
            done = client.post("/imports", files=files, data={"skip_invalid": "true"})
            assert done.status_code == 200, done.text
            report = done.json()
            assert report["rejected"] == 1
            assert report["artworks"]["new"] == 1
            assert report["rejects_url"] == f"/imports/{report['id']}/rejects"
            rejects = client.get(report["rejects_url"])
            assert rejects.status_code == 200
            assert rejects.headers["content-type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(rejects.text)))
            assert [(row["file"], row["line"], row["column"], row["action"]) for row in rows] == [
                ("artworks.csv", "3", "title", "row rejected")
            ], rejects.text
            assert rows[0]["row"].startswith("id=W999|")

            # Too large: declared up front (refused unread), and chunked with no length
            # (refused once the count passes the limit).
            huge = {**files, "artists": ("artists.csv", b"x" * (4 * limit), "text/csv")}
            declared = _is_problem(client.post("/imports", files=huge), 413)
            assert declared["limit_bytes"] == limit
            boundary = uuid.uuid4().hex
            body = _multipart(boundary, {"artists": b"y" * (4 * limit), "artworks": b""})
            chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))
            streamed = client.post(
                "/imports",
                content=chunks,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            assert "content-length" not in streamed.request.headers
            assert _is_problem(streamed, 413)["limit_bytes"] == limit
            assert client.get("/health/live").status_code == 200
        with server.client() as anonymous:
            _is_problem(anonymous.get(report["rejects_url"]), 401)

    # What the server kept: only the rejects of the import that has some.
    imports = uploads / "gallery-analytics-api-imports"
    assert imports.is_dir(), "the server did not use its TMPDIR (its environment was lost)"
    kept = sorted(p.name for p in imports.iterdir())
    assert kept == [report["id"]]
    [imported] = _first(
        fresh_db, "SELECT count(*) FROM artworks WHERE title = 'The Fighting Temeraire'"
    )
    assert imported == "1"  # the valid row went in (once: the refused import wrote nothing)


# -- workers and signals ------------------------------------------------------------------------


def _connection_owner(server: Server, client_port: int) -> int | None:
    """The worker whose socket is the server side of the client's connection."""
    for worker in server.workers():
        for connection in worker.net_connections(kind="tcp"):
            local, remote = connection.laddr, connection.raddr
            if local and remote and local.port == server.port and remote.port == client_port:
                return int(worker.pid)
    return None


def _client_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


def test_two_workers_both_answer(
    served_two: Server, env: dict[str, str], fresh_db: Database, tmp_path: Path
) -> None:
    """``--workers 2``: two worker processes with serve's environment, many concurrent
    requests all answered on a busy machine, and each worker answering by itself."""
    token = create_token(env, tmp_path, "reader", "read")
    [artwork_id] = _first(fresh_db, "SELECT id FROM artworks ORDER BY id LIMIT 1")
    path = f"/artworks/{artwork_id}"
    workers = served_two.workers()
    assert len(workers) == 2, served_two.tree()
    for worker in workers:  # the settings resolved by serve, and the rest of the environment
        environ = worker.environ()
        assert environ["GALLERY_ENV_FILE"] == os.devnull
        assert environ["GALLERY_DATABASE_URL"] == env["GALLERY_DATABASE_URL"]
        # ...but not the schema owner's credential, which no route needs.
        assert "GALLERY_ADMIN_DATABASE_URL" in env
        assert "GALLERY_ADMIN_DATABASE_URL" not in environ
        assert {name: environ.get(name) for name in ("PATH", "HOME")} == {
            name: env.get(name) for name in ("PATH", "HOME")
        }
    with burn_cpus():

        def many(_: int) -> list[int]:
            with served_two.client(token) as client:
                return [client.get(path).status_code for _ in range(10)]

        with ThreadPoolExecutor(16) as pool:
            codes = [code for batch in pool.map(many, range(16)) for code in batch]
        assert codes == [200] * 160

        # Each worker answers on its own: one held connection shows who took it; with
        # that worker stopped, a new connection can only be taken by the other. (Stopped
        # briefly: uvicorn's supervisor restarts a worker silent for 5 s.)
        one = httpx.Limits(max_connections=1)
        with served_two.client(token, limits=one) as first:
            answered = first.get(path)
            assert answered.status_code == 200
            taker = _connection_owner(served_two, _client_port(answered))
            assert taker is not None
            assert taker in {w.pid for w in workers}
            os.kill(taker, signal.SIGSTOP)
            try:
                with served_two.client(token, limits=one, timeout=4) as second:
                    other = second.get(path)
                    other_taker = _connection_owner(served_two, _client_port(other))
            finally:
                os.kill(taker, signal.SIGCONT)
            assert other.status_code == 200
            assert other_taker in {w.pid for w in workers} - {taker}
            assert first.get(path).status_code == 200
    assert sorted(w.pid for w in served_two.workers()) == sorted(w.pid for w in workers)


@pytest.fixture
def served_two(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    with serve(env, tmp_path / "serve", workers=2) as server:
        yield server


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_ends_the_server_and_its_workers_mid_request(
    fresh_db: Database, server_url: URL, password: str, tmp_path: Path, workers: int
) -> None:
    """SIGTERM to ``gallery-analytics serve`` while a request waits on a lock: the
    process and every worker end within a bound, and the API leaves no backend behind
    (the lock still held, so its query was cancelled and its connections closed)."""
    env = environment(fresh_db, password)
    token = create_token(env, tmp_path, "viewer", "read")
    with serve(env, tmp_path / "serve", workers=workers) as server:
        tree = server.tree()
        assert len(server.workers()) == (workers if workers > 1 else 0), tree
        with TableLock(fresh_db.admin_url, SALES_TABLES):
            client = _send_overview(server.port, token)
            try:
                wait_for(
                    lambda: lock_waiters(server_url, fresh_db) >= 1,
                    LOCK_WAIT_SECONDS,
                    lambda: f"no panel waited on the lock: {api_backends(server_url, fresh_db)}",
                )
                tree = server.tree()
                server.process.send_signal(signal.SIGTERM)
                # uvicorn shuts down, then ends by the signal it caught (as a shell expects).
                ended = server.process.wait(timeout=SIGTERM_SECONDS)
                assert ended in (0, -signal.SIGTERM), server.logs()[-3000:]
                assert "Application shutdown complete" in server.logs()
                _gone, alive = psutil.wait_procs(tree, timeout=SIGTERM_SECONDS)
                assert alive == [], f"left running: {alive}"
                everything = fetch(
                    server_url,
                    "SELECT pid, state FROM pg_stat_activity WHERE datname = $1 "
                    "AND application_name = 'gallery-analytics'",
                    fresh_db.url.database,
                )
                assert everything == [], everything
            finally:
                client.close()
