"""The ``gallery-analytics`` command.

Subcommands are thin: parse arguments, call the library, print one clear line on
failure (exit code 2 for bad input or configuration, 1 for database failures) rather
than a traceback. Passwords never reach the output: URLs are printed masked.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from gallery_analytics.config import Settings, mask_url
from gallery_analytics.db.connect import EMBEDDED_DATABASE, connect, embedded_urls
from gallery_analytics.db.database import Database
from gallery_analytics.db.embedded import EmbeddedPostgres
from gallery_analytics.db.roles import role_urls
from gallery_analytics.db.schema import HEAD_REVISION, upgrade_schema
from gallery_analytics.demo.generate import DEFAULT_SEED, DEMO_TODAY, SIZES
from gallery_analytics.demo.load import seed_demo
from gallery_analytics.errors import (
    ConfigurationError,
    GalleryAnalyticsError,
    ValidationError,
)
from gallery_analytics.imports import ImportValidationError, import_collection
from gallery_analytics.notebooks import (
    execute_notebook,
    notebook_paths,
    prepare_notebook_database,
)
from gallery_analytics.reports import (
    PARAMETERS,
    ReportExecutionError,
    check_parameters,
    claim_report_outputs,
    execute_report,
    parse_parameter_pairs,
)
from gallery_analytics.services.summary import SummaryService

DEFAULT_REPORT = Path("reports") / "gallery-report.html"
_OUT_HELP = (
    f"HTML file to write, with the executed notebook beside it (default: {DEFAULT_REPORT}, "
    "which each run replaces); a file you name is never replaced unless --force"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gallery-analytics",
        description="Analytics workbench for the gallery platform.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = commands.add_parser(
        "db",
        help="manage the embedded PostgreSQL server and the schema (upgrade, or its "
        "synonym init, runs the schema migrations)",
    )
    db.add_argument("action", choices=["start", "stop", "status", "url", "init", "upgrade"])

    seed = commands.add_parser("seed", help="replace all gallery data with demo data")
    seed.add_argument("--size", choices=sorted(SIZES), default="small")
    seed.add_argument("--seed", type=_non_negative_int, default=DEFAULT_SEED)
    seed.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    summary = commands.add_parser("summary", help="print a short gallery summary")
    summary.add_argument(
        "--on",
        type=_date,
        default=DEMO_TODAY,
        help=f"reference date, YYYY-MM-DD (default: {DEMO_TODAY})",
    )

    report = commands.add_parser(
        "report", help="execute the report notebook and export a self-contained HTML report"
    )
    report.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"report parameter: {', '.join(PARAMETERS)} (repeatable)",
    )
    report.add_argument("--out", type=Path, default=None, help=_OUT_HELP)
    report.add_argument(
        "--notebook",
        type=Path,
        default=None,
        help="report notebook to execute (default: notebooks/04-report.ipynb)",
    )
    report.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    report.add_argument(
        "--force",
        action="store_true",
        help="replace the HTML file and the executed notebook beside it if they exist",
    )
    report.add_argument(
        "--allow-partial",
        action="store_true",
        help="write the report even if some panels fail (they are listed at its top); "
        "without it, a failed panel fails the command",
    )

    importer = commands.add_parser(
        "import", help="import a collection from artists and artworks CSV files"
    )
    importer.add_argument("--artists", type=Path, required=True, help="artists CSV")
    importer.add_argument("--artworks", type=Path, required=True, help="artworks CSV")
    importer.add_argument(
        "--owner",
        default="collections@gallery.example",
        help="email of the user who owns the imported rows (created if missing)",
    )
    importer.add_argument(
        "--source",
        default="import",
        help="name of the collection; (source, source id) identifies rows",
    )
    importer.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FILE.COLUMN=SOURCE",
        help="read our column from another source column, e.g. artworks.year=Date",
    )
    importer.add_argument("--dry-run", action="store_true", help="validate, report, write nothing")
    importer.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid rows; write the others to --rejects",
    )
    importer.add_argument(
        "--rejects",
        type=Path,
        default=None,
        help="CSV file for rejected rows and warnings (file, line, column, reason); "
        "never an input, and an existing file only with --force",
    )
    importer.add_argument(
        "--strict",
        action="store_true",
        help="reject rows with an unusable optional value (size, year) or no artist_id, "
        "instead of importing them with the value left empty or as 'Unknown artist'",
    )
    importer.add_argument(
        "--force", action="store_true", help="let --rejects replace an existing file"
    )
    importer.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    notebooks = commands.add_parser(
        "notebooks",
        help="re-execute the notebooks in place against the seeded demo database "
        "(keeps their committed outputs current)",
    )
    notebooks.add_argument("names", nargs="*", help="notebooks to run (default: all)")

    demo = commands.add_parser(
        "demo",
        help="the main job: start the embedded database, seed it, print a summary and "
        "write the HTML report",
    )
    demo.add_argument("--size", choices=sorted(SIZES), default="small")
    demo.add_argument("--seed", type=_non_negative_int, default=DEFAULT_SEED)
    demo.add_argument("--out", type=Path, default=None, help=_OUT_HELP)
    demo.add_argument(
        "--force",
        action="store_true",
        help="replace the HTML file and the executed notebook beside it if they exist",
    )
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging()
    handlers: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
        "db": _db,
        "seed": _seed,
        "summary": _summary,
        "report": _report,
        "notebooks": _notebooks,
        "import": _import,
        "demo": _demo,
    }
    try:
        return asyncio.run(handlers[args.command](args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValidationError, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ImportValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ReportExecutionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except GalleryAnalyticsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


# -- handlers -------------------------------------------------------------------------------


async def _db(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    server = EmbeddedPostgres(settings.embedded_dir)
    action: str = args.action
    if action == "start":
        if settings.database_url is not None:
            print(
                f"note: GALLERY_DATABASE_URL is set ({mask_url(settings.database_url)}); "
                "the embedded server is started but not used",
                file=sys.stderr,
            )
        await asyncio.to_thread(server.start)
        print(f"embedded PostgreSQL {(await asyncio.to_thread(server.status)).describe()}")
    elif action == "stop":
        stopped = await asyncio.to_thread(server.stop)
        print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    elif action == "status":
        print(f"embedded PostgreSQL: {(await asyncio.to_thread(server.status)).describe()}")
        if settings.database_url is not None:
            print(f"configured database (used instead): {mask_url(settings.database_url)}")
    elif action == "url":
        if settings.database_url is not None:
            print(mask_url(settings.database_url))
        else:
            # The application's (writer) URL, never the embedded server's superuser.
            server_url = make_url(await asyncio.to_thread(server.url, EMBEDDED_DATABASE))
            print(mask_url(role_urls(server_url, EMBEDDED_DATABASE).writer))
    else:  # upgrade, init: run the migrations up to the newest revision (idempotent)
        url = await _schema_owner_url(settings)
        await upgrade_schema(url)
        print(f"schema ready in {mask_url(url)} (revision {HEAD_REVISION})")
    return 0


async def _schema_owner_url(settings: Settings) -> URL:
    """Migrations run as the schema owner: the admin URL, else the database URL, else the
    embedded server's owner role."""
    if settings.schema_owner_url is not None:
        return settings.schema_owner_url
    return (await embedded_urls(settings)).owner


async def _seed(args: argparse.Namespace) -> int:
    db = await connect()
    try:
        report = await seed_demo(db, size=args.size, seed=args.seed, progress=not args.no_progress)
    finally:
        await db.dispose()
    print(report.summary())
    return 0


async def _summary(args: argparse.Namespace) -> int:
    db = await connect()
    try:
        summary = await SummaryService(db).get_summary(on=args.on)
    finally:
        await db.dispose()
    print(summary.render())
    return 0


async def _report(args: argparse.Namespace) -> int:
    raw = parse_parameter_pairs(args.param)
    db = await connect()
    try:
        parameters = await check_parameters(db, raw)  # before any cell runs
    finally:
        await db.dispose()
    report = await asyncio.to_thread(
        execute_report,
        parameters,
        args.out or DEFAULT_REPORT,
        notebook=args.notebook,
        progress=not args.no_progress,
        force=args.force or args.out is None,  # the default report is this command's own
        allow_partial=args.allow_partial,
    )
    print(f"report: {report.html_path}")
    print(f"executed notebook: {report.notebook_path}")
    if report.failed_panels:
        print(
            f"warning: partial report, {len(report.failed_panels)} panel(s) failed: "
            f"{', '.join(report.failed_panels)}",
            file=sys.stderr,
        )
    return 0


async def _import(args: argparse.Namespace) -> int:
    db = await connect()
    try:
        report = await import_collection(
            db,
            artists_csv=args.artists,
            artworks_csv=args.artworks,
            owner_email=args.owner,
            source=args.source,
            column_map=args.map,
            dry_run=args.dry_run,
            skip_invalid=args.skip_invalid,
            rejects_path=args.rejects,
            strict=args.strict,
            force=args.force,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    finally:
        await db.dispose()
    print(report.summary())
    return 0


async def _notebooks(args: argparse.Namespace) -> int:
    paths = notebook_paths(args.names)
    settings = Settings.from_env()
    server = settings.database_url or make_url(
        await asyncio.to_thread(EmbeddedPostgres(settings.embedded_dir).start)
    )
    # Roles are created only on the embedded server, never on a configured one.
    database = await prepare_notebook_database(
        server, provision_roles=settings.database_url is None
    )
    print(f"notebook database: {mask_url(database.writer)} (small demo data, seed {DEFAULT_SEED})")
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        await asyncio.to_thread(execute_notebook, path, database=database)
    print(f"{len(paths)} notebook(s) updated")
    return 0


async def _demo(args: argparse.Namespace) -> int:
    out: Path = args.out or DEFAULT_REPORT
    force: bool = args.force or args.out is None  # the default report is the demo's own
    claim_report_outputs(out, force=force)  # before the slow part
    db = await connect()
    try:
        print(f"database: {_describe(db)}")
        seeded = await seed_demo(db, size=args.size, seed=args.seed, progress=sys.stderr.isatty())
        print(seeded.summary())
        summary = await SummaryService(db).get_summary(on=DEMO_TODAY)
        print(summary.render())
        parameters = await check_parameters(db, {})
    finally:
        await db.dispose()
    report = await asyncio.to_thread(
        execute_report, parameters, out, progress=sys.stderr.isatty(), force=force
    )
    print(f"report: {report.html_path}")
    return 0


# -- argument types -------------------------------------------------------------------------


def _describe(db: Database) -> str:
    return mask_url(db.url)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 2**63-1, got {text}")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


if __name__ == "__main__":
    raise SystemExit(main())
