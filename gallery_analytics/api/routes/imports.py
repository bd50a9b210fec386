"""POST /imports: a museum's artists and artworks CSVs, uploaded and imported.

The body is read as a stream: parts go to temporary files (Starlette's multipart
parser spools anything over 1 MB to disk), never whole into memory, and the body is
counted as it arrives: past ``GALLERY_API_MAX_UPLOAD_BYTES`` the request is refused
with 413 before the rest is read (a ``Content-Length`` that already says so is refused
before anything is read). The files are then imported exactly as ``gallery-analytics
import`` does (:func:`gallery_analytics.imports.import_collection`: validated with
file, line and column, one transaction, nothing written on a problem unless
``skip_invalid``). Rejected rows are kept for a day as a CSV the caller can download
(``GET /imports/{id}/rejects``, with the import scope).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from gallery_analytics.api.dependencies import CanImport, DatabaseDep, SettingsDep
from gallery_analytics.errors import (
    ConfigurationError,
    InputTooLargeError,
    NotFoundError,
    Problem,
    ValidationError,
)
from gallery_analytics.imports import ImportReport, import_collection

router = APIRouter(prefix="/imports", tags=["imports"], dependencies=[CanImport])

FILES = ("artists", "artworks")
FLAGS = ("dry_run", "skip_invalid", "strict")
# How long a rejects file stays downloadable.
REJECTS_KEPT_SECONDS = 24 * 3600
REJECTS_NAME = "rejects.csv"


def imports_dir() -> Path:
    """Where uploads are imported from and rejects kept: private to this account."""
    return Path(tempfile.gettempdir()) / "gallery-analytics-api-imports"


class ProblemOut(BaseModel):
    file: str
    line: int
    column: str
    reason: str

    @classmethod
    def of(cls, problem: Problem) -> ProblemOut:
        return cls(
            file=problem.file, line=problem.line, column=problem.column, reason=problem.reason
        )


class ImportResult(BaseModel):
    """What the import did (or, for a dry run, would do)."""

    id: str
    dry_run: bool
    artists: dict[str, int]
    artworks: dict[str, int]
    rejected: int
    warnings: list[ProblemOut]
    unknown_artist_works: int
    ignored_columns: dict[str, list[str]]
    seconds: float
    summary: str
    rejects_url: str | None

    @classmethod
    def of(cls, import_id: str, report: ImportReport, rejects_url: str | None) -> ImportResult:
        return cls(
            id=import_id,
            dry_run=report.dry_run,
            artists=report.artists,
            artworks=report.artworks,
            rejected=report.rejected,
            warnings=[ProblemOut.of(w) for w in report.warnings],
            unknown_artist_works=report.unknown_artist_works,
            ignored_columns=report.ignored_columns,
            seconds=report.seconds,
            summary=report.summary(),
            rejects_url=rejects_url,
        )


_MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": list(FILES),
                    "properties": {
                        "artists": {"type": "string", "format": "binary"},
                        "artworks": {"type": "string", "format": "binary"},
                        "dry_run": {"type": "boolean", "default": False},
                        "skip_invalid": {"type": "boolean", "default": False},
                        "strict": {"type": "boolean", "default": False},
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    openapi_extra=_MULTIPART_BODY,
    responses={
        413: {"description": "the upload is larger than the server accepts"},
        422: {"description": "problems in the files, each with file, line and column"},
    },
)
async def import_files(request: Request, db: DatabaseDep, settings: SettingsDep) -> ImportResult:
    """Import the ``artists`` and ``artworks`` CSV files of a multipart form.
    ``dry_run`` checks and counts without writing; ``skip_invalid`` imports the valid
    rows and keeps the rejected ones for download; ``strict`` rejects a row with an
    unusable optional value instead of importing it with that value left empty."""
    limit = settings.api_max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ValidationError("body", "expected a multipart/form-data upload (curl -F ...)")
    import_id = str(uuid.uuid4())
    workdir = imports_dir() / import_id
    await asyncio.to_thread(_make_private_dir, workdir)
    keep = False
    try:
        files, flags = await _receive(request, workdir, limit)
        rejects = workdir / REJECTS_NAME
        report = await import_collection(
            db,
            artists_csv=files["artists"],
            artworks_csv=files["artworks"],
            source="api",
            dry_run=flags["dry_run"],
            skip_invalid=flags["skip_invalid"],
            strict=flags["strict"],
            rejects_path=rejects,
            progress=False,
        )
        keep = await asyncio.to_thread(rejects.exists)
        url = f"/imports/{import_id}/rejects" if keep else None
        return ImportResult.of(import_id, report, url)
    finally:
        await asyncio.to_thread(_tidy, workdir, keep)


@router.get(
    "/{import_id}/rejects",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}}}, 404: {"description": "no such rejects"}},
)
async def download_rejects(import_id: str) -> FileResponse:
    """The rows an import rejected (and the values it left empty), as CSV."""
    try:
        name = str(uuid.UUID(import_id))  # only ids we made reach the filesystem
    except ValueError:
        raise ValidationError("import_id", "expected the id an import returned") from None
    path = imports_dir() / name / REJECTS_NAME
    if not await asyncio.to_thread(path.is_file):
        raise NotFoundError("import rejects", name)
    return FileResponse(path, media_type="text/csv", filename=f"rejects-{name}.csv")


async def _receive(
    request: Request, workdir: Path, limit: int
) -> tuple[dict[str, Path], dict[str, bool]]:
    """Parse the form from the counted body stream; each file part saved under its
    field's name (so problems read "artists.csv, line 4, column birth_year")."""
    parser = MultiPartParser(
        request.headers, _counted(request.stream(), limit), max_files=2, max_fields=10
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ValidationError("body", f"not a readable multipart form: {exc.message}") from None
    try:
        files: dict[str, Path] = {}
        for name in FILES:
            part = form.get(name)
            if not isinstance(part, UploadFile):
                raise ValidationError(name, f"expected a CSV file in the form field {name!r}")
            target = workdir / f"{name}.csv"
            await asyncio.to_thread(_save, part, target)
            files[name] = target
        flags = {name: _flag(form.get(name), name) for name in FLAGS}
        unknown = sorted(set(form.keys()) - set(FILES) - set(FLAGS))
        if unknown:
            raise ValidationError(unknown[0], f"unknown form field; expected {FILES + FLAGS}")
        return files, flags
    finally:
        await form.close()


async def _counted(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        yield chunk


def _too_large(limit: int) -> InputTooLargeError:
    return InputTooLargeError(
        "body", f"the upload is larger than this server accepts ({limit:,} bytes)", limit=limit
    )


def _flag(value: object, name: str) -> bool:
    if value is None:
        return False
    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ValidationError(name, "expected true or false")


def _save(part: UploadFile, target: Path) -> None:
    part.file.seek(0)
    with open(target, "xb") as out:
        shutil.copyfileobj(part.file, out, length=1024 * 1024)


def _make_private_dir(workdir: Path) -> None:
    root = workdir.parent
    root.mkdir(mode=0o700, exist_ok=True)
    # A shared temporary directory: refuse a root another account made (or a link), so
    # nobody else can read the uploads or plant files where rejects are served from.
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ConfigurationError(
            f"{root} is not a private directory of this account; remove it and retry"
        )
    workdir.mkdir(mode=0o700)
    _forget_old(workdir.parent)


def _tidy(workdir: Path, keep_rejects: bool) -> None:
    """Remove the uploads; keep only the rejects file when there is one."""
    if not keep_rejects:
        shutil.rmtree(workdir, ignore_errors=True)
        return
    for path in workdir.iterdir():
        if path.name != REJECTS_NAME:
            path.unlink(missing_ok=True)


def _forget_old(root: Path) -> None:
    """Remove imports older than a day (their rejects are no longer offered)."""
    cutoff = time.time() - REJECTS_KEPT_SECONDS
    for entry in root.iterdir():
        try:
            if entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue
