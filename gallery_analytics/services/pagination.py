"""Keyset pagination for lists: pages of DTOs and the opaque cursor between them.

A cursor is the sort values of a page's last row (``["Monet", "<id>"]``), as base64url
JSON, so a client passes it back unchanged (``?after=...``) and never builds one. It is
not a secret nor a capability: it names a position in a list the caller may read anyway.
Everything in it is checked on the way back in (a hostile or truncated cursor is a
ValidationError naming ``after``), since it ends up as SQL parameters.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from gallery_analytics.domain.values import parse_id, storable_text
from gallery_analytics.errors import ValidationError

ItemT = TypeVar("ItemT")

# A cursor longer than this is not one we gave out (three short values, base64url).
MAX_CURSOR_LENGTH = 2048

# How each sort value is read back from its JSON text.
ValueReader = Callable[[object], object]


class Page(BaseModel, Generic[ItemT]):
    """One page of a list: its items, and the cursor of the next page (None: the last)."""

    model_config = ConfigDict(frozen=True)

    items: list[ItemT]
    next_after: str | None


def text_value(value: object) -> str:
    """Text PostgreSQL can hold (no NUL, no lone surrogate): anything else cannot be a
    sort value we gave out, and would fail in the driver rather than here."""
    if not isinstance(value, str) or len(value) > 10_000:
        raise ValueError("a text value")
    return storable_text(value)


def id_value(value: object) -> str:
    return parse_id(value, field="after")


def date_value(value: object) -> dt.date:
    if not isinstance(value, str):
        raise ValueError("a date")
    return dt.date.fromisoformat(value)


def encode_cursor(values: Sequence[object]) -> str:
    plain = [value.isoformat() if isinstance(value, dt.date) else value for value in values]
    raw = json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: object, readers: Sequence[ValueReader]) -> tuple[object, ...]:
    """The sort values in ``cursor``, each read by its reader; ValidationError on anything
    that is not a cursor of this list."""
    refused = ValidationError(
        "after", "expected the next_after value of the previous page, unchanged", value=None
    )
    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise refused from None
    if not isinstance(values, list) or len(values) != len(readers):
        raise refused
    try:
        return tuple(read(value) for read, value in zip(readers, values, strict=True))
    except (ValueError, ValidationError):
        raise refused from None


def page_of(
    rows: Sequence[ItemT], *, limit: int, sort_values: Callable[[ItemT], Sequence[object]]
) -> Page[ItemT]:
    """A page from ``limit + 1`` fetched rows: the extra row only says there is more."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items=items, next_after=encode_cursor(sort_values(items[-1])) if more else None)
