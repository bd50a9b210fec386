"""The ``gallery-analytics`` command, built with Typer.

Commands are thin: Typer parses and validates the arguments from their type hints
(pydantic does the conversion: ranges, dates, sizes), the command calls the library, and
a failure is one ``error: ...`` line on stderr rather than a traceback. Exit codes: 2 for
a usage error (an unknown option, a bad option value) and for bad input or configuration
the library reports (ValidationError, ConfigurationError, ImportValidationError), 1 for
any other failure (the database, a report cell). Passwords never reach the output: URLs
are printed masked.

The report, notebook and demo commands import the report machinery when they run: it
needs the ``notebook`` extra, and the database commands must work without it.

Each command reads the settings once (``Settings.from_env``: the environment over the
project's ``.env``) and passes that object on, down to the kernels it starts, so a report
renders from the database its parameters were checked against.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Annotated, Any, ParamSpec

import typer
from pydantic_core import PydanticCustomError
from sqlalchemy.engine import URL, make_url

from gallery_analytics import serving  # its defaults are the command's (Voila: lazily)
from gallery_analytics.config import IsoDate, Settings, mask_url, process_environment
from gallery_analytics.db.admin import replay_lag
from gallery_analytics.db.connect import EMBEDDED_DATABASE, connect, embedded_urls
from gallery_analytics.db.embedded import EmbeddedPostgres, EmbeddedReplica
from gallery_analytics.db.roles import role_urls
from gallery_analytics.db.schema import HEAD_REVISION, upgrade_schema
from gallery_analytics.demo.generate import DEFAULT_SEED, SIZES
from gallery_analytics.demo.load import seed_demo
from gallery_analytics.domain.filters import REPORT_PARAMETERS
from gallery_analytics.errors import (
    ConfigurationError,
    GalleryAnalyticsError,
    ImportValidationError,
    ValidationError,
)
from gallery_analytics.frames.parquet import extract_to_parquet
from gallery_analytics.imports import import_collection
from gallery_analytics.services.summary import SummaryService
from gallery_analytics.services.tokens import ApiTokenService, Scope

PROG = "gallery-analytics"
DEFAULT_REPORT = Path("reports") / "gallery-report.html"
MAX_SEED = 2**63 - 1  # numpy's generator takes a non-negative int64

# Errors the person at the keyboard fixes in the command or the environment: exit 2,
# like a usage error. Every other project error is a failure: exit 1.
_INPUT_ERRORS = (ValidationError, ConfigurationError, ImportValidationError)

P = ParamSpec("P")


# -- argument types: pydantic converts, Typer reports a bad value as a usage error -------------


def _demo_size(value: object) -> object:
    """A demo size by name, from the one table of sizes (``SIZES``)."""
    if isinstance(value, str) and value in SIZES:
        return value
    raise PydanticCustomError(
        "demo_size",
        "{shown} is not one of {choices}",
        {"shown": repr(value), "choices": ", ".join(SIZES)},
    )


DemoSizeOption = Annotated[
    str,
    typer.Option(
        parser=_demo_size,
        metavar=f"[{'|'.join(SIZES)}]",
        help="how much demo data: "
        + ", ".join(f"{size.name} ({size.artworks:,} artworks)" for size in SIZES.values()),
    ),
]
SeedOption = Annotated[
    int,
    typer.Option(
        min=0,
        max=MAX_SEED,
        metavar="N",
        help="random seed, 0 to 2**63-1; the same seed always gives the same data",
    ),
]
NoProgressOption = Annotated[bool, typer.Option("--no-progress", help="hide the progress bar")]
ReportOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="PATH.html",
        show_default=False,
        help=f"HTML file to write, with the executed notebook beside it (default: "
        f"{DEFAULT_REPORT}, which each run replaces); a file you name is never replaced "
        "unless --force",
    ),
]


def _repeatable(flag: str, *, metavar: str, help: str) -> Any:
    """A text option that may be given many times (its values arrive as a list)."""
    return typer.Option(flag, metavar=metavar, show_default=False, help=f"{help} (repeatable)")


ReportForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="replace the HTML file and the executed notebook beside it if they exist"
    ),
]

app = typer.Typer(
    name=PROG,
    help="Analytics workbench for the gallery platform.",
    add_completion=False,
    rich_markup_mode=None,  # plain click help: help texts are shown as written
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="Manage the embedded PostgreSQL server and the schema (upgrade, or its synonym "
    "init, runs the schema migrations).",
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(db_app, name="db")
token_app = typer.Typer(
    help="Tokens for the HTTP API (gallery-analytics serve): create one per client, with "
    "the scopes it needs; only a hash is stored, so a token is shown once.",
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(token_app, name="api-token")


def _runs_async(command: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """A Typer command from a coroutine function: one event loop for the command."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            asyncio.run(command(*args, **kwargs))
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return run


async def _settings() -> Settings:
    """The settings, read off the event loop (``.env`` is a file)."""
    return await asyncio.to_thread(Settings.from_env)


# -- db -------------------------------------------------------------------------------------


ReplicaOption = Annotated[
    bool,
    typer.Option(
        "--replica",
        help="the embedded server's streaming replica (made from the primary on first start)",
    ),
]


@db_app.command("start")
@_runs_async
async def db_start(replica: ReplicaOption = False) -> None:
    """Start the embedded PostgreSQL server, and its replica when one was made (or with
    --replica: make one); nothing happens to what already runs."""
    settings = await _settings()
    if settings.database_url is not None:
        print(
            f"note: GALLERY_DATABASE_URL is set ({mask_url(settings.database_url)}); "
            "the embedded server is started but not used",
            file=sys.stderr,
        )
    server = EmbeddedPostgres(settings=settings)
    await asyncio.to_thread(server.start)
    print(f"embedded PostgreSQL {(await asyncio.to_thread(server.status)).describe()}")
    standby = EmbeddedReplica(settings=settings)
    if replica or await asyncio.to_thread(lambda: standby.replication_enabled):
        await asyncio.to_thread(standby.start)
        print(f"embedded replica {(await asyncio.to_thread(standby.status)).describe()}")


@db_app.command("stop")
@_runs_async
async def db_stop(replica: ReplicaOption = False) -> None:
    """Stop the embedded PostgreSQL server and its replica (with --replica: the replica
    only); their data is kept."""
    settings = await _settings()
    servers: list[tuple[str, EmbeddedPostgres]] = [("replica", EmbeddedReplica(settings=settings))]
    if not replica:
        servers.append(("PostgreSQL", EmbeddedPostgres(settings=settings)))
    for name, server in servers:
        stopped = await asyncio.to_thread(server.stop)
        if stopped or name == "PostgreSQL" or replica:
            print(f"embedded {name} {'stopped' if stopped else 'was not running'}")


@db_app.command("status")
@_runs_async
async def db_status() -> None:
    """Say whether the embedded server (and its replica) runs, how far the replica is
    behind, and which configured database is used instead."""
    settings = await _settings()
    server = EmbeddedPostgres(settings=settings)
    primary = await asyncio.to_thread(server.status)
    print(f"embedded PostgreSQL: {primary.describe()}")
    standby = EmbeddedReplica(settings=settings)
    if await asyncio.to_thread(lambda: standby.replication_enabled):
        status = await asyncio.to_thread(standby.status)
        line = f"embedded replica: {status.describe()}"
        if primary.running and status.running and status.socket_dir is not None:
            lag_bytes, lag_seconds = await replay_lag(
                make_url(await asyncio.to_thread(server.url)),
                make_url(await asyncio.to_thread(standby.url)),
            )
            line += f"; replay lag {lag_bytes} bytes ({lag_seconds:.1f} s)"
        print(line)
    if settings.database_url is not None:
        print(f"configured database (used instead): {mask_url(settings.database_url)}")
        if settings.replica_database_url is not None:
            print(f"configured replica (reads): {mask_url(settings.replica_database_url)}")


@db_app.command("url")
@_runs_async
async def db_url(replica: ReplicaOption = False) -> None:
    """Print the database URL in use (with --replica: the URL reads go to), password
    masked."""
    settings = await _settings()
    if settings.database_url is not None:
        configured = settings.replica_database_url if replica else settings.database_url
        if configured is None:
            raise ConfigurationError("no replica is configured (GALLERY_REPLICA_DATABASE_URL)")
        print(mask_url(configured))
        return
    # The application's URLs (writer; reader on the replica), never the superuser's.
    server: EmbeddedPostgres = (
        EmbeddedReplica(settings=settings) if replica else EmbeddedPostgres(settings=settings)
    )
    server_url = make_url(await asyncio.to_thread(server.url, EMBEDDED_DATABASE))
    roles = role_urls(server_url, EMBEDDED_DATABASE)
    print(mask_url(roles.reader if replica else roles.writer))


@_runs_async
async def db_upgrade() -> None:
    """Run the schema migrations up to this version's revision (idempotent; a database
    from before migrations is adopted)."""
    settings = await _settings()
    url = await _schema_owner_url(settings)
    await upgrade_schema(url)
    print(f"schema ready in {mask_url(url)} (revision {HEAD_REVISION})")


db_app.command("upgrade")(db_upgrade)
db_app.command("init", help="The same as upgrade: run the schema migrations.")(db_upgrade)


async def _schema_owner_url(settings: Settings) -> URL:
    """Migrations run as the schema owner: the admin URL, else the database URL, else the
    embedded server's owner role."""
    if settings.schema_owner_url is not None:
        return settings.schema_owner_url
    return (await embedded_urls(settings)).owner


# -- data -----------------------------------------------------------------------------------


@app.command("seed")
@_runs_async
async def seed(
    size: DemoSizeOption = "small",
    seed: SeedOption = DEFAULT_SEED,
    no_progress: NoProgressOption = False,
) -> None:
    """Replace all gallery data with demo data."""
    async with await connect() as db:
        report = await seed_demo(db, size=size, seed=seed, progress=not no_progress)
    print(report.summary())


@app.command("summary")
@_runs_async
async def summary(
    on: Annotated[
        IsoDate | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            show_default=False,
            help="reference date (default: the workbench's today: GALLERY_TODAY, else the "
            "dataset's own date (the demo's is fixed), else the calendar's)",
        ),
    ] = None,
) -> None:
    """Print a short gallery summary: counts, revenue, top artists, open exhibitions."""
    async with await connect() as db:
        gallery = await SummaryService(db).get_summary(on=on)
    print(gallery.render())


def _check_input_files(**files: Path) -> None:
    """A missing file or a directory is refused before the database is reached (which may
    start the embedded server): a typo costs nothing. The loader checks again, for
    library callers."""
    for name, path in files.items():
        if path.is_dir():
            raise ValidationError(name, f"is a directory, not a CSV file: {path}")
        if not path.is_file():
            raise ValidationError(name, f"no such file: {path}")


@app.command("import")
@_runs_async
async def import_(
    artists: Annotated[Path, typer.Option(metavar="FILE.csv", help="artists CSV")],
    artworks: Annotated[Path, typer.Option(metavar="FILE.csv", help="artworks CSV")],
    rates: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE.csv",
            show_default=False,
            help="monthly exchange rates CSV: currency,month,rate (one unit's worth in EUR "
            "that month, e.g. USD,2024-03,0.92)",
        ),
    ] = None,
    owner: Annotated[
        str,
        typer.Option(
            metavar="EMAIL",
            help="email of the user who owns the imported rows (created if missing)",
        ),
    ] = "collections@gallery.example",
    source: Annotated[
        str,
        typer.Option(
            metavar="NAME", help="name of the collection; (source, source id) identifies rows"
        ),
    ] = "import",
    column_map: Annotated[
        list[str] | None,
        _repeatable(
            "--map",
            metavar="FILE.COLUMN=SOURCE",
            help="read our column from another source column, e.g. artworks.year=Date",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate and report; write nothing")
    ] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="import the valid rows; write the others to --rejects"),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE.csv",
            show_default=False,
            help="CSV file for rejected rows and warnings (file, line, column, reason); "
            "never an input, and an existing file only with --force",
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="reject rows with an unusable optional value (size, year) or no artist_id, "
            "instead of importing them with the value left empty or as 'Unknown artist'",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="let --rejects replace an existing file")
    ] = False,
    no_progress: NoProgressOption = False,
) -> None:
    """Import a collection from artists and artworks CSV files (and its exchange rates)."""
    inputs = {"artists": artists, "artworks": artworks}
    if rates is not None:
        inputs["rates"] = rates
    await asyncio.to_thread(_check_input_files, **inputs)
    async with await connect() as db:
        report = await import_collection(
            db,
            artists_csv=artists,
            artworks_csv=artworks,
            rates_csv=rates,
            owner_email=owner,
            source=source,
            column_map=column_map or [],
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            rejects_path=rejects,
            strict=strict,
            force=force,
            progress=not no_progress and sys.stderr.isatty(),
        )
    print(report.summary())


@app.command("extract")
@_runs_async
async def extract(
    query: Annotated[
        str,
        typer.Argument(
            metavar="SQL",
            help='the query, e.g. "SELECT * FROM sales WHERE sold_at >= :since" (SELECT, '
            "VALUES, TABLE or WITH; run read-only on the read database)",
        ),
    ],
    out: Annotated[Path, typer.Option(metavar="FILE.parquet", help="Parquet file to write")],
    param: Annotated[
        list[str] | None,
        _repeatable(
            "--param",
            metavar="NAME=VALUE",
            help="a value for the query's :NAME placeholder, as text; the server converts it "
            "to the placeholder's type (--param since=2024-01-01)",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="replace FILE if it exists")] = False,
    no_progress: NoProgressOption = False,
) -> None:
    """Stream a query's rows into a Parquet file, in bounded memory (any number of rows)."""
    params = _named_values(param or [], option="--param")
    async with await connect() as db:
        written = await extract_to_parquet(
            db,
            query,
            out,
            params or None,
            force=force,
            progress=not no_progress and sys.stderr.isatty(),
            field="out",
        )
    print(written.summary())


def _named_values(pairs: Sequence[str], *, option: str) -> dict[str, str]:
    """``NAME=VALUE`` pairs as a dict; a pair without ``=`` or a repeated name is refused."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        name = name.strip()
        if not separator or not name:
            raise ValidationError(option, f"expected NAME=VALUE, got {pair!r}")
        if name in values:
            raise ValidationError(option, f"{name!r} is given twice")
        values[name] = value
    return values


# -- reports and notebooks (the notebook extra) ---------------------------------------------


@app.command("report")
@_runs_async
async def report(
    param: Annotated[
        list[str] | None,
        _repeatable(
            "--param",
            metavar="KEY=VALUE",
            help=f"report parameter, one of {', '.join(REPORT_PARAMETERS)} "
            "(start and end as YYYY-MM-DD)",
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            metavar="CODE",
            show_default=False,
            help="show amounts in this currency, converted at monthly exchange rates "
            "(default: EUR; the same as --param currency=CODE)",
        ),
    ] = None,
    artist: Annotated[
        str | None,
        typer.Option(
            metavar="ID",
            show_default=False,
            help="report on one artist's artworks, by the artist's id "
            "(the same as --param artist_id=ID)",
        ),
    ] = None,
    out: ReportOutOption = None,
    notebook: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE.ipynb",
            show_default=False,
            help="report notebook to execute (default: notebooks/04-report.ipynb)",
        ),
    ] = None,
    no_progress: NoProgressOption = False,
    force: ReportForceOption = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="write the report even if some panels fail (they are listed at its top); "
            "without it, a failed panel fails the command",
        ),
    ] = False,
) -> None:
    """Execute the report notebook and export a self-contained HTML report."""
    from gallery_analytics.reports import check_parameters, execute_report, parse_parameter_pairs

    raw = parse_parameter_pairs(param or [], options={"currency": currency, "artist_id": artist})
    settings = await _settings()
    async with await connect(settings=settings) as db:
        parameters = await check_parameters(db, raw)  # before any cell runs
    written = await asyncio.to_thread(
        execute_report,
        parameters,
        out or DEFAULT_REPORT,
        notebook=notebook,
        progress=not no_progress,
        force=force or out is None,  # the default report is this command's own
        allow_partial=allow_partial,
        settings=settings,  # the kernel renders from the database checked here
    )
    print(f"report: {written.html_path}")
    print(f"executed notebook: {written.notebook_path}")
    if written.failed_panels:
        print(
            f"warning: partial report, {len(written.failed_panels)} panel(s) failed: "
            f"{', '.join(written.failed_panels)}",
            file=sys.stderr,
        )


@app.command("notebooks")
@_runs_async
async def notebooks(
    names: Annotated[
        list[str] | None,
        # Hidden from the Arguments list (Typer would print "NAME <list[str]>"); the
        # docstring shows this help instead.
        typer.Argument(
            metavar="NAME",
            show_default=False,
            hidden=True,
            help="the notebooks to run, e.g. 01-quickstart (default: all)",
        ),
    ] = None,
) -> None:
    """Re-execute the notebooks in place against the seeded demo database (keeps their
    committed outputs current).

    NAME: the notebooks to run, e.g. 01-quickstart (default: all)."""
    from gallery_analytics.notebooks import (
        execute_notebook,
        notebook_paths,
        prepare_notebook_database,
    )

    paths = notebook_paths(names or [])
    settings = await _settings()
    server = settings.database_url or make_url(
        await asyncio.to_thread(EmbeddedPostgres(settings=settings).start)
    )
    # Roles are created only on the embedded server, never on a configured one.
    database = await prepare_notebook_database(
        server, provision_roles=settings.database_url is None
    )
    print(f"notebook database: {mask_url(database.writer)} (small demo data, seed {DEFAULT_SEED})")
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        await asyncio.to_thread(execute_notebook, path, database=database, settings=settings)
    print(f"{len(paths)} notebook(s) updated")


@app.command("demo")
@_runs_async
async def demo(
    size: DemoSizeOption = "small",
    seed: SeedOption = DEFAULT_SEED,
    out: ReportOutOption = None,
    force: ReportForceOption = False,
) -> None:
    """The main job: start the embedded database, seed it, print a summary and write the
    HTML report."""
    from gallery_analytics.reports import check_parameters, claim_report_outputs, execute_report

    target = out or DEFAULT_REPORT
    replace = force or out is None  # the default report is the demo's own
    claim_report_outputs(target, force=replace)  # before the slow part
    progress = sys.stderr.isatty()
    settings = await _settings()
    async with await connect(settings=settings) as db:
        print(f"database: {mask_url(db.url)}")
        seeded = await seed_demo(db, size=size, seed=seed, progress=progress)
        print(seeded.summary())
        gallery = await SummaryService(db).get_summary()
        print(gallery.render())
        parameters = await check_parameters(db, {})
    written = await asyncio.to_thread(
        execute_report, parameters, target, progress=progress, force=replace, settings=settings
    )
    print(f"report: {written.html_path}")


# -- serving the dashboard (the app extra) ---------------------------------------------------


@app.command("dashboard")
def dashboard(
    port: Annotated[
        int, typer.Option(min=1, max=65535, metavar="PORT", help="port to serve on")
    ] = serving.DEFAULT_PORT,
    host: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS",
            help="address to listen on: 127.0.0.1 is this machine only, 0.0.0.0 every network",
        ),
    ] = serving.DEFAULT_HOST,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="do not open the dashboard in a browser")
    ] = False,
    cull_after: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="SECONDS",
            help="shut down the kernel of a page that has been gone this long (each open "
            "page runs a kernel of its own, some 300 MB)",
        ),
    ] = serving.KernelCulling().idle_seconds,
    preheat: Annotated[
        bool,
        typer.Option(
            "--preheat/--no-preheat",
            help="keep a kernel that has already run the notebook waiting for the next page "
            "(it opens in about 2 s instead of 11; that kernel holds its memory all the time; "
            "a page opened on a view older than 30 s reloads it)",
        ),
    ] = serving.PREHEAT_DEFAULT,
) -> None:
    """Serve the interactive dashboard as a web app (Voila) until interrupted; closed
    pages' kernels are shut down (see gallery_analytics/serving.py for every setting)."""

    settings = Settings.from_env()
    command = serving.voila_command(  # MissingExtraError before anything starts
        serving.voila_arguments(
            serving.dashboard_notebook(),
            port=port,
            host=host,
            open_browser=not no_browser,
            culling=serving.KernelCulling.after(cull_after),
            preheat=preheat,
        )
    )
    url = asyncio.run(_check_dashboard_database(settings))
    print(f"dashboard database: {url}")
    print(f"serving the dashboard at http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    sys.stderr.flush()
    # Voila replaces this process: signals (Ctrl-C, a service manager's SIGTERM) reach it
    # directly, and no parent is left behind to forward them.
    os.execve(command[0], command, serving.voila_environment(settings))


async def _check_dashboard_database(settings: Settings) -> str:
    """The database the dashboard's kernels will use, reachable and at this schema
    (starting the embedded server if that is the one), as a masked URL; a one-line
    error now rather than in every page's kernel."""
    async with await connect(settings=settings) as db:
        await db.today()
        return mask_url(db.url)


# -- API tokens -------------------------------------------------------------------------------


@token_app.command("create")
@_runs_async
async def token_create(
    name: Annotated[str, typer.Argument(help="who the token is for, e.g. analysts-ci")],
    scope: Annotated[
        list[Scope],
        typer.Option(
            "--scope",
            help="what it may do: read, write or import (repeat for several)",
            case_sensitive=False,
        ),
    ],
) -> None:
    """Create a token and print it (alone on stdout, once: it cannot be shown again)."""
    async with await connect(settings=await _settings()) as db:
        token = await ApiTokenService(db).create(name, scope)
    print(
        f"token {name!r} ({', '.join(sorted(scope))}) created; it is shown only now",
        file=sys.stderr,
    )
    print(token, flush=True)


@token_app.command("revoke")
@_runs_async
async def token_revoke(
    name: Annotated[str, typer.Argument(help="the token's name")],
) -> None:
    """Revoke a token: the next request that carries it is refused."""
    async with await connect(settings=await _settings()) as db:
        await ApiTokenService(db).revoke(name)
    print(f"token {name!r} revoked")


@token_app.command("list")
@_runs_async
async def token_list() -> None:
    """List tokens (names, scopes, when created and revoked; never the tokens)."""
    async with await connect(settings=await _settings()) as db:
        tokens = await ApiTokenService(db).list()
    if not tokens:
        print("no API tokens (gallery-analytics api-token create NAME --scope read)")
    for token in tokens:
        state = (
            "active"
            if token.revoked_at is None
            else f"revoked {token.revoked_at:%Y-%m-%d %H:%M} UTC"
        )
        scopes = ",".join(sorted(token.scopes))
        print(f"{token.name}\t{scopes}\tcreated {token.created_at:%Y-%m-%d %H:%M} UTC\t{state}")


# -- serving the HTTP API (the api extra) ----------------------------------------------------

API_DEFAULT_PORT = 8000


@app.command("serve")
def serve(
    host: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS",
            help="address to listen on: 127.0.0.1 is this machine only, 0.0.0.0 every network",
        ),
    ] = serving.DEFAULT_HOST,
    port: Annotated[
        int, typer.Option(min=1, max=65535, metavar="PORT", help="port to serve on")
    ] = API_DEFAULT_PORT,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            metavar="N",
            help="worker processes (each has its own connection pool: N x the pool size)",
        ),
    ] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="log every request")
    ] = True,
) -> None:
    """Serve the HTTP API (FastAPI on uvicorn) until interrupted: OpenAPI at
    /openapi.json, docs at /docs. Uses the configured database, else the embedded one."""
    from gallery_analytics.extras import require_extra

    with require_extra("api", needed_by="gallery-analytics serve"):
        import uvicorn

        import gallery_analytics.api  # noqa: F401  (FastAPI itself, checked before starting)

    settings = Settings.from_env()
    url = asyncio.run(_check_dashboard_database(settings))
    print(f"API database: {url}", file=sys.stderr)
    print(
        f"serving the API at http://{host}:{port}/ (docs at /docs; Ctrl-C stops it)",
        file=sys.stderr,
        flush=True,
    )
    # The workers read the settings this command resolved, never a .env of their own,
    # minus the schema owner's URL: no route migrates, reloads or mints tokens, so a
    # worker has no use for the most powerful credential.
    # (Computed before the clear: it keeps the rest of os.environ, PATH, HOME, TMPDIR.)
    environment = process_environment(settings.model_copy(update={"admin_database_url": None}))
    os.environ.clear()
    os.environ.update(environment)
    uvicorn.run(
        "gallery_analytics.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


# -- entry point ----------------------------------------------------------------------------


class _OneLineFormatter(logging.Formatter):
    """Log records as ``warning: message``: a command's user gets sentences, not tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    # asyncio repeats "socket.send() raised exception" while a lost connection is being
    # torn down; the command reports the loss itself, once. Everything else asyncio says
    # (a task exception never retrieved, say) still shows.
    logging.getLogger("asyncio").addFilter(_not_socket_send_noise)


def _not_socket_send_noise(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("socket.send() raised exception")


def _usage_line(error: typer.TyperException, command: Any, argv: Sequence[str] = ()) -> str:
    """A usage error as one line, with where to read more: the command's own help. Click
    gives some errors no context (an option missing its value is found while parsing,
    before the command's context exists), so then the path comes from ``argv``."""
    message = " ".join(error.format_message().split())
    context = getattr(error, "ctx", None)
    path = context.command_path if context is not None else _command_path(command, argv)
    return f"error: {message} (see '{path} --help')"


def _command_path(command: Any, argv: Sequence[str]) -> str:
    """``gallery-analytics db status`` from the subcommand names leading ``argv``
    (``command``: the root Click command, typed loosely: Typer's Click is private)."""
    names = [PROG]
    for token in argv:
        subcommand = getattr(command, "commands", {}).get(token)
        if subcommand is None:
            break
        names.append(token)
        command = subcommand
    return " ".join(names)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Click's standalone mode would print its own multi-line usage errors and call
    ``sys.exit``; here every outcome is an exit code and at most one ``error:`` line.
    """
    _configure_logging()
    command = typer.main.get_command(app)
    arguments = list(argv) if argv is not None else sys.argv[1:]
    try:
        outcome = command.main(
            args=arguments,
            prog_name=PROG,
            standalone_mode=False,
        )
    except typer.TyperException as error:  # click's usage errors (exit code 2)
        print(_usage_line(error, command, arguments), file=sys.stderr)
        return error.exit_code
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        return 130
    except GalleryAnalyticsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, _INPUT_ERRORS) else 1
    return outcome if isinstance(outcome, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
