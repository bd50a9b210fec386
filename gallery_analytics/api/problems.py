"""Errors as RFC 9457 problem details (``application/problem+json``), in one place.

Every error a route can meet is mapped here to a status and a body a client can act on:
``type`` (a stable URI naming the kind of problem), ``title``, ``status``, ``detail`` (the
project's own sentence, which never carries a driver message, a traceback or a
credential: :mod:`gallery_analytics.db.translate` made it), and extension members
(``field`` for a bad input, ``errors`` for every bad field of a request, ``problems`` for
an import's rows). Anything unexpected is a 500 whose body says only that; the
exception goes to the server's log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from gallery_analytics.errors import (
    AuthenticationError,
    ConcurrentSessionUseError,
    ConstraintViolationError,
    DatabaseNotAnsweringError,
    DatabaseUnavailableError,
    GalleryAnalyticsError,
    ImportValidationError,
    InputTooLargeError,
    NotFoundError,
    PanelFailedError,
    PermissionDeniedError,
    QueryTimeoutError,
    ReadOnlyError,
    SchemaOutdatedError,
    ValidationError,
)

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPES = "https://gallery-analytics.example/problems/"
# How long a client should wait before retrying a 503 (a pool or server coming back).
RETRY_AFTER_SECONDS = 5
# Request-validation errors listed in one problem before the rest are only counted.
ERRORS_SHOWN = 20


class ProblemDetails(BaseModel):
    """An error body (RFC 9457); extension members vary by kind (``field``, ``errors``,
    ``problems``, ``entity``, ``limit_bytes``)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


def _documented(description: str) -> dict[str, Any]:
    return {"model": ProblemDetails, "description": description, "content": {PROBLEM_JSON: {}}}


# The error responses every route may give, for the OpenAPI document.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _documented("no valid bearer token"),
    403: _documented("the token lacks the scope this route needs"),
    422: _documented("a bad value, named in `field`"),
    503: _documented("database unavailable or pool exhausted; retry after `Retry-After`"),
}


def problem_response(
    status: int,
    kind: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPES + kind,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


# Project errors by class, most specific first: (class, status, problem kind).
_STATUSES: Sequence[tuple[type[GalleryAnalyticsError], int, str]] = (
    (AuthenticationError, 401, "unauthorized"),
    (PermissionDeniedError, 403, "forbidden"),
    (NotFoundError, 404, "not-found"),
    (InputTooLargeError, 413, "too-large"),
    (ImportValidationError, 422, "invalid-import"),
    (ValidationError, 422, "invalid-input"),
    (ReadOnlyError, 409, "read-only"),
    (ConstraintViolationError, 409, "conflict"),
    (QueryTimeoutError, 504, "query-timeout"),
    (PanelFailedError, 500, "panel-failed"),
    # Before its base class: the server stopped answering mid-statement.
    (DatabaseNotAnsweringError, 503, "database-unavailable"),
    (DatabaseUnavailableError, 503, "database-unavailable"),
    (SchemaOutdatedError, 503, "schema-outdated"),
    (ConcurrentSessionUseError, 500, "internal"),
)


def status_of(exc: GalleryAnalyticsError) -> tuple[int, str]:
    """The HTTP status and problem kind of a project error (500 for anything unlisted)."""
    if isinstance(exc, PanelFailedError) and exc.timed_out:
        return 504, "query-timeout"
    for cls, status, kind in _STATUSES:
        if isinstance(exc, cls):
            return status, kind
    return 500, "internal"


def _path(request: Request) -> str:
    return request.url.path  # never the query string: it may hold what a user typed


async def _gallery_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GalleryAnalyticsError)
    status, kind = status_of(exc)
    headers: dict[str, str] = {}
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    extra: dict[str, Any] = {}
    detail = str(exc)
    if isinstance(exc, InputTooLargeError):
        extra["limit_bytes"] = exc.limit
    if isinstance(exc, ImportValidationError):
        detail = f"{len(exc.problems)} problem(s) in the import files; nothing was written"
        extra["problems"] = [
            {"file": p.file, "line": p.line, "column": p.column, "reason": p.reason}
            for p in exc.problems
        ]
    elif isinstance(exc, ValidationError):
        extra["field"] = exc.field
        detail = exc.reason if isinstance(exc, InputTooLargeError) else detail
    elif isinstance(exc, NotFoundError):
        extra["entity"] = exc.entity
    if status == 500:
        logger.error("%s %s failed: %s", request.method, _path(request), exc, exc_info=exc)
        detail = "the server failed to handle this request; the error is in its log"
    return problem_response(
        status, kind, detail, headers=headers or None, extra=extra, instance=_path(request)
    )


def _field_name(location: Sequence[int | str]) -> str:
    """``["query", "limit"]`` is ``limit``; ``["body", "artwork", "title"]`` is
    ``artwork.title``."""
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _reason(error: Mapping[str, Any]) -> str:
    """pydantic's message without its "Value error, " prefix (our validators' sentences)."""
    return str(error.get("msg", "")).removeprefix("Value error, ")


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own checks of path, query and body: each bad field named, with what was
    expected; never the value itself (it may be long, binary, or someone's secret)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            # A body that is not JSON: located at a byte offset, which names no field.
            "field": "body"
            if error.get("type") == "json_invalid"
            else _field_name(error.get("loc", ())),
            "reason": _reason(error),
        }
        for error in exc.errors()
    ]
    shown = errors[:ERRORS_SHOWN]
    first = shown[0] if shown else {"field": "request", "reason": "invalid"}
    detail = f"{first['field']}: {first['reason']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem_response(
        422,
        "invalid-input",
        detail,
        extra={"field": first["field"], "errors": shown},
        instance=_path(request),
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (no such route, method not allowed) as problems too."""
    assert isinstance(exc, StarletteHTTPException)
    kinds = {404: "no-such-route", 405: "method-not-allowed"}
    return problem_response(
        exc.status_code,
        kinds.get(exc.status_code, "http"),
        str(exc.detail),
        headers=exc.headers,
        instance=_path(request),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("%s %s failed", request.method, _path(request), exc_info=exc)
    return problem_response(
        500,
        "internal",
        "the server failed to handle this request; the error is in its log",
        instance=_path(request),
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GalleryAnalyticsError, _gallery_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
