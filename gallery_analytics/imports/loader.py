"""Import a collection: validate the files, then stage with COPY and upsert atomically.

Everything lands in one transaction: the owner user (created if missing), the artists,
the "Unknown artist" of works that name none (one per source, created only when
needed), the artworks, and the collection's own exchange rates when a rates file is
given (``currency,month,rate``: what one unit was worth in EUR that month; rates belong
to no source, and a month's rate already there is replaced). Rows are COPYed into
temporary staging tables and merged with one ``INSERT ... ON CONFLICT (source,
source_id) DO UPDATE ... WHERE changed`` per table, so importing the same files again
changes nothing and a corrected file updates only the rows that changed. A dry run does
all of it and rolls back; files with no rows to import open no transaction at all (not
even the owner is created; a rates file alone writes its rates and no owner).

The rejects file is claimed before anything is read (:func:`gallery_analytics.outputs.
claim_output`): it never replaces an input, nor an existing file unless ``force``.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from gallery_analytics.db.database import Database
from gallery_analytics.domain.values import reject_awaitables, storable_text
from gallery_analytics.errors import ERROR_LIMIT, ImportValidationError, Problem, ValidationError
from gallery_analytics.imports.parsing import (
    UNKNOWN_ARTIST_NAME,
    UNKNOWN_ARTIST_SOURCE_ID,
    ParsedFile,
    parse_column_map,
    parse_file,
)
from gallery_analytics.imports.problems import listed
from gallery_analytics.outputs import claim_output

__all__ = [
    "ERROR_LIMIT",
    "UNKNOWN_ARTIST_NAME",
    "UNKNOWN_ARTIST_SOURCE_ID",
    "ImportReport",
    "import_collection",
]


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do); ``summary()`` says it in lines."""

    source: str
    dry_run: bool
    artists: dict[str, int] = field(default_factory=dict)
    artworks: dict[str, int] = field(default_factory=dict)
    rates: dict[str, int] | None = None  # None: no rates file was given
    rejected: int = 0
    warnings: list[Problem] = field(default_factory=list)
    unknown_artist_works: int = 0
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        parts = [
            f"{verb} from {self.source!r} in {self.seconds:.1f} s:",
            "  artists:  " + ", ".join(f"{n:,} {k}" for k, n in self.artists.items()),
            "  artworks: " + ", ".join(f"{n:,} {k}" for k, n in self.artworks.items()),
        ]
        if self.rates is not None:
            parts.append("  rates:    " + ", ".join(f"{n:,} {k}" for k, n in self.rates.items()))
        if self.unknown_artist_works:
            parts.append(
                f"  {self.unknown_artist_works:,} artworks with no artist "
                f"(imported as {UNKNOWN_ARTIST_NAME!r})"
            )
        if self.rejected:
            parts.append(f"  rejected rows: {self.rejected:,}")
        if self.warnings:
            parts.append(
                f"  warnings: {len(self.warnings):,} value(s) could not be used and were left "
                "empty (rows kept; --strict rejects them):"
            )
            parts.append(listed(self.warnings, indent="    "))
        for kind, columns in self.ignored_columns.items():
            if columns:
                parts.append(f"  ignored {kind} columns: {', '.join(columns)}")
        return "\n".join(parts)


async def import_collection(
    db: Database,
    *,
    artists_csv: Path,
    artworks_csv: Path,
    rates_csv: Path | None = None,
    owner_email: str = "collections@gallery.example",
    source: str = "import",
    column_map: Sequence[str] = (),
    dry_run: bool = False,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    strict: bool = False,
    force: bool = False,
    progress: bool = True,
) -> ImportReport:
    """Validate and import a collection; see the module docstring for the guarantees.

    ``strict`` rejects rows with an unusable optional value or no artist instead of
    keeping them (value left empty, "Unknown artist"). ``rejects_path`` receives the
    rejected rows and the warnings; ``force`` lets it replace an existing file (never an
    input). ``rates_csv`` (optional) brings monthly exchange rates, validated like the
    other files and written in the same transaction.
    """
    started = time.perf_counter()
    reject_awaitables(
        {
            "db": db,
            "artists_csv": artists_csv,
            "artworks_csv": artworks_csv,
            "rates_csv": rates_csv,
            "owner_email": owner_email,
            "source": source,
            "column_map": column_map,
            "dry_run": dry_run,
            "skip_invalid": skip_invalid,
            "rejects_path": rejects_path,
            "strict": strict,
            "force": force,
            "progress": progress,
        }
    )
    source = _check_text(source, "source", 100)
    owner_email = _check_text(owner_email, "owner", 320)
    if "@" not in owner_email:
        raise ValidationError("owner", f"expected an email address, got {owner_email!r}")
    if skip_invalid and rejects_path is None:
        raise ValidationError("rejects", "--skip-invalid needs --rejects FILE for rejected rows")
    mapping = parse_column_map(column_map)
    if rejects_path is not None:
        # Claiming resolves paths and looks at the filesystem: off the loop.
        rejects_path = await asyncio.to_thread(
            claim_output,
            rejects_path,
            force=force,
            protected=tuple(p for p in (artists_csv, artworks_csv, rates_csv) if p is not None),
            field="rejects",
        )
    # Reading and checking tens of thousands of rows is CPU and file work: off the loop.
    artists, artworks, rates = await asyncio.to_thread(
        _parse_all, artists_csv, artworks_csv, rates_csv, mapping, strict=strict
    )
    parsed = [artists, artworks] + ([] if rates is None else [rates])
    problems = [problem for one in parsed for problem in one.problems]
    if problems and (not skip_invalid or any(one.fatal for one in parsed)):
        raise ImportValidationError(problems)
    report = ImportReport(
        source=source,
        dry_run=dry_run,
        rejected=sum(one.rejected for one in parsed),
        warnings=[warning for one in parsed for warning in one.warnings],
        unknown_artist_works=sum(1 for row in artworks.rows if row["artist_id"] is None),
        ignored_columns={"artists": artists.ignored_columns, "artworks": artworks.ignored_columns},
    )
    bar = tqdm(
        total=sum(len(one.rows) for one in parsed),
        unit="rows",
        desc="importing",
        disable=not progress,
    )
    try:
        report.artists, report.artworks, report.rates = await _load(
            db,
            artists,
            artworks,
            rates,
            owner_email=owner_email,
            source=source,
            dry_run=dry_run,
            advance=bar.update,
        )
    finally:
        bar.close()
    if rejects_path is not None and (skip_invalid or report.rejected or report.warnings):
        await asyncio.to_thread(_write_rejects, rejects_path, parsed)
    report.seconds = time.perf_counter() - started
    return report


def _parse_all(
    artists_csv: Path,
    artworks_csv: Path,
    rates_csv: Path | None,
    mapping: dict[str, dict[str, str]],
    *,
    strict: bool,
) -> tuple[ParsedFile, ParsedFile, ParsedFile | None]:
    files = [(artists_csv, "artists"), (artworks_csv, "artworks")]
    for path, name in files + ([] if rates_csv is None else [(rates_csv, "rates")]):
        if path.is_dir():
            raise ValidationError(name, f"is a directory, not a CSV file: {path}")
        if not path.is_file():
            raise ValidationError(name, f"no such file: {path}")
    artists = parse_file(artists_csv, "artists", mapping["artists"], strict=strict)
    # Only artists that will be imported count: an artwork of a rejected (or unreadable)
    # artist is itself rejected, never silently dropped by the merge's join.
    known = {row["id"] for row in artists.rows}
    artworks = parse_file(
        artworks_csv,
        "artworks",
        mapping["artworks"],
        known_artists=known,
        rejected_artists=artists.rejected_ids,
        strict=strict,
    )
    rates = None
    if rates_csv is not None:
        rates = parse_file(rates_csv, "rates", mapping["rates"], strict=strict)
    return artists, artworks, rates


REJECTS_HEADER = ["file", "line", "column", "action", "reason", "row"]


def _write_rejects(path: Path, files: Sequence[ParsedFile]) -> None:
    """One line per problem (its row rejected) and per warning (its value left empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECTS_HEADER)
        for parsed in files:
            entries = [(p, "row rejected") for p in parsed.problems] + [
                (w, "value left empty") for w in parsed.warnings
            ]
            for problem, action in sorted(entries, key=lambda entry: entry[0].line):
                writer.writerow(
                    [
                        problem.file,
                        problem.line,
                        problem.column,
                        action,
                        problem.reason,
                        parsed.raw.get(problem.line, ""),
                    ]
                )


_STAGE_ARTISTS = """
CREATE TEMP TABLE stage_artists (
    source_id text, name text, gender text, birth_year int, death_year int,
    nationality text, place_of_birth text
) ON COMMIT DROP
"""
_STAGE_ARTWORKS = """
CREATE TEMP TABLE stage_artworks (
    source_id text, artist_source_id text, title text, accession_number text, medium text,
    year_text text, year_created int, acquired_at timestamptz, width_cm numeric,
    height_cm numeric, depth_cm numeric, credit_line text
) ON COMMIT DROP
"""
_MERGE_ARTISTS = """
INSERT INTO artists AS a (id, owner_id, name, gender, birth_year, death_year, nationality,
                          place_of_birth, source, source_id)
SELECT gen_random_uuid(), $1, s.name, s.gender, s.birth_year, s.death_year, s.nationality,
       s.place_of_birth, $2, s.source_id
FROM stage_artists s
ON CONFLICT (source, source_id) DO UPDATE SET
    name = EXCLUDED.name, gender = EXCLUDED.gender, birth_year = EXCLUDED.birth_year,
    death_year = EXCLUDED.death_year, nationality = EXCLUDED.nationality,
    place_of_birth = EXCLUDED.place_of_birth, owner_id = EXCLUDED.owner_id
WHERE (a.name, a.gender, a.birth_year, a.death_year, a.nationality, a.place_of_birth,
       a.owner_id)
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.gender, EXCLUDED.birth_year, EXCLUDED.death_year,
       EXCLUDED.nationality, EXCLUDED.place_of_birth, EXCLUDED.owner_id)
RETURNING (xmax = 0) AS inserted
"""
_MERGE_ARTWORKS = """
INSERT INTO artworks AS w (id, artist_id, owner_id, title, accession_number, medium,
                           year_text, year_created, acquired_at, width_cm, height_cm,
                           depth_cm, credit_line, source, source_id)
SELECT gen_random_uuid(), a.id, $1, s.title, s.accession_number, s.medium, s.year_text,
       s.year_created, s.acquired_at, s.width_cm, s.height_cm, s.depth_cm, s.credit_line,
       $2, s.source_id
FROM stage_artworks s
JOIN artists a ON a.source = $2 AND a.source_id = s.artist_source_id
ON CONFLICT (source, source_id) DO UPDATE SET
    artist_id = EXCLUDED.artist_id, owner_id = EXCLUDED.owner_id, title = EXCLUDED.title,
    accession_number = EXCLUDED.accession_number, medium = EXCLUDED.medium,
    year_text = EXCLUDED.year_text, year_created = EXCLUDED.year_created,
    acquired_at = EXCLUDED.acquired_at, width_cm = EXCLUDED.width_cm,
    height_cm = EXCLUDED.height_cm, depth_cm = EXCLUDED.depth_cm,
    credit_line = EXCLUDED.credit_line
WHERE (w.artist_id, w.owner_id, w.title, w.accession_number, w.medium, w.year_text,
       w.year_created, w.acquired_at, w.width_cm, w.height_cm, w.depth_cm, w.credit_line)
      IS DISTINCT FROM
      (EXCLUDED.artist_id, EXCLUDED.owner_id, EXCLUDED.title, EXCLUDED.accession_number,
       EXCLUDED.medium, EXCLUDED.year_text, EXCLUDED.year_created, EXCLUDED.acquired_at,
       EXCLUDED.width_cm, EXCLUDED.height_cm, EXCLUDED.depth_cm, EXCLUDED.credit_line)
RETURNING (xmax = 0) AS inserted
"""


# The owner: found by email, created only if missing (an upsert would rewrite the row on
# every import).
_OWNER = """
WITH found AS (SELECT id FROM users WHERE email = $1),
created AS (
    INSERT INTO users (id, email, display_name)
    SELECT gen_random_uuid(), $1, $2 WHERE NOT EXISTS (SELECT FROM found)
    ON CONFLICT (email) DO NOTHING
    RETURNING id
)
SELECT id FROM found UNION ALL SELECT id FROM created
"""
# The source's "Unknown artist": an ordinary artist row keyed by a source id no file may
# use, so every panel, chart and report shows its works under that name.
_UNKNOWN_ARTIST = """
INSERT INTO artists AS a (id, owner_id, name, source, source_id)
VALUES (gen_random_uuid(), $1, $3, $2, $4)
ON CONFLICT (source, source_id) DO UPDATE SET name = EXCLUDED.name, owner_id = EXCLUDED.owner_id
WHERE (a.name, a.owner_id) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.owner_id)
"""
_STAGE_RATES = """
CREATE TEMP TABLE stage_rates (currency text, month date, rate numeric) ON COMMIT DROP
"""
# Rates are facts about currencies, not rows of a collection: keyed by (currency, month),
# a rate already there is replaced only when the file says otherwise.
_MERGE_RATES = """
INSERT INTO exchange_rates AS r (currency, month, rate)
SELECT s.currency, s.month, s.rate FROM stage_rates s
ON CONFLICT (currency, month) DO UPDATE SET rate = EXCLUDED.rate
WHERE r.rate IS DISTINCT FROM EXCLUDED.rate
RETURNING (xmax = 0) AS inserted
"""
_NOTHING = {"new": 0, "updated": 0, "unchanged": 0}


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


async def _load(
    db: Database,
    artists: ParsedFile,
    artworks: ParsedFile,
    rates: ParsedFile | None,
    *,
    owner_email: str,
    source: str,
    dry_run: bool,
    advance: Any,
) -> tuple[dict[str, int], dict[str, int], dict[str, int] | None]:
    rate_counts = None if rates is None else dict(_NOTHING)
    if not artists.rows and not artworks.rows and not (rates and rates.rows):
        return dict(_NOTHING), dict(_NOTHING), rate_counts  # nothing to write at all
    counts: tuple[dict[str, int], dict[str, int], dict[str, int] | None] = ({}, {}, None)
    try:
        async with db.driver_transaction(write=True) as connection:
            if rates is not None and rates.rows:
                await connection.execute(_STAGE_RATES)
                await connection.copy_records_to_table(
                    "stage_rates",
                    records=[(r["currency"], r["month"], r["rate"]) for r in rates.rows],
                )
                rate_counts = _tally(await connection.fetch(_MERGE_RATES), len(rates.rows))
                advance(len(rates.rows))
            if not artists.rows and not artworks.rows:  # rates only: no owner either
                counts = (dict(_NOTHING), dict(_NOTHING), rate_counts)
                if dry_run:
                    raise _DryRun
                return counts
            display_name = f"{source} collection"
            owner = await connection.fetchval(_OWNER, owner_email, display_name)
            if owner is None:  # created by a concurrent import since our snapshot
                owner = await connection.fetchval(_OWNER, owner_email, display_name)
            artist_counts = await _stage_and_merge(
                connection,
                _STAGE_ARTISTS,
                "stage_artists",
                [
                    (
                        r["id"],
                        r["name"],
                        r["gender"],
                        r["birth_year"],
                        r["death_year"],
                        r["nationality"],
                        r["place_of_birth"],
                    )
                    for r in artists.rows
                ],
                _MERGE_ARTISTS,
                owner=owner,
                source=source,
            )
            advance(len(artists.rows))
            if any(r["artist_id"] is None for r in artworks.rows):
                await connection.execute(
                    _UNKNOWN_ARTIST, owner, source, UNKNOWN_ARTIST_NAME, UNKNOWN_ARTIST_SOURCE_ID
                )
            artwork_counts = await _stage_and_merge(
                connection,
                _STAGE_ARTWORKS,
                "stage_artworks",
                [
                    (
                        r["id"],
                        r["artist_id"] or UNKNOWN_ARTIST_SOURCE_ID,
                        r["title"],
                        r["accession_number"],
                        r["medium"],
                        r["year"],
                        r["year_created"],
                        _acquired(r["acquisition_year"]),
                        r["width_mm"],
                        r["height_mm"],
                        r["depth_mm"],
                        r["credit_line"],
                    )
                    for r in artworks.rows
                ],
                _MERGE_ARTWORKS,
                owner=owner,
                source=source,
            )
            advance(len(artworks.rows))
            counts = (artist_counts, artwork_counts, rate_counts)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return counts


async def _stage_and_merge(
    connection: Any,
    create_stage: str,
    stage: str,
    records: list[tuple[Any, ...]],
    merge: str,
    *,
    owner: str,
    source: str,
) -> dict[str, int]:
    """COPY ``records`` into a fresh staging table, merge it, count what changed."""
    await connection.execute(create_stage)
    await connection.copy_records_to_table(stage, records=records)
    merged = await connection.fetch(merge, owner, source)
    return _tally(merged, len(records))


def _tally(merged: Sequence[Any], total: int) -> dict[str, int]:
    inserted = sum(1 for row in merged if row["inserted"])
    updated = len(merged) - inserted
    return {"new": inserted, "updated": updated, "unchanged": total - inserted - updated}


def _acquired(year: int | None) -> dt.datetime | None:
    return None if year is None else dt.datetime(year, 1, 1, tzinfo=dt.UTC)


def _check_text(value: object, field_name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field_name, "expected a non-empty text value", value=value)
    try:
        storable_text(value)
    except ValueError as exc:
        raise ValidationError(field_name, str(exc)) from None
    if len(value) > limit:
        raise ValidationError(field_name, f"longer than {limit} characters")
    return value.strip()
