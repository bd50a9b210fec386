"""Input checks shared by services, filters and the CLI.

They raise :class:`~gallery_analytics.errors.ValidationError` naming the field and
saying what was expected, so bad input never reaches the driver.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import pydantic

from gallery_analytics.errors import ValidationError

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


def parse_id(value: object, *, field: str) -> str:
    """Return the canonical string form of a UUID id, or raise naming ``field``."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise ValidationError(
            field, f"expected a UUID string, got {type(value).__name__}", value=value
        )
    text = value.strip()
    if not text:
        raise ValidationError(field, "expected a UUID string, got an empty string", value=value)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ValidationError(
            field,
            f"expected a UUID like 123e4567-e89b-12d3-a456-426614174000, got {shown!r}",
            value=value,
        ) from None


def build(model: type[ModelT], data: dict[str, Any], *, prefix: str = "") -> ModelT:
    """Validate ``data`` into ``model``; the first problem becomes a ValidationError."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        reason = str(first["msg"])
        if first["type"] == "value_error":  # our own validators: drop pydantic's prefix
            cause = first.get("ctx", {}).get("error")
            reason = getattr(cause, "reason", None) or str(cause)
        location = ".".join(str(part) for part in first["loc"]) or model.__name__
        field = f"{prefix}{location}"
        problems = len(exc.errors())
        more = (
            f" (and {problems - 1} more problem{'s' if problems > 2 else ''})"
            if problems > 1
            else ""
        )
        raise ValidationError(field, f"{reason}{more}", value=first.get("input")) from None
