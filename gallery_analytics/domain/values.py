"""Input checks shared by services, filters and the CLI.

They raise :class:`~gallery_analytics.errors.ValidationError` naming the field and
saying what was expected, so bad input never reaches the driver.
"""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import pydantic
from pydantic import AfterValidator, Strict, StringConstraints, TypeAdapter

from gallery_analytics.errors import ValidationError

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)
T = TypeVar("T")

AWAIT_HINT = "did you forget `await`?"


def reject_awaitable(value: object, *, field: str) -> None:
    """Raise a ValidationError naming ``field`` if ``value`` is a coroutine (or another
    awaitable) where a value belongs: ``get_user(catalog.get_user_id(...))`` without
    ``await`` would otherwise read "expected a UUID string, got coroutine".

    The coroutine is closed: it will never run, and an unawaited coroutine would also
    emit a "never awaited" RuntimeWarning later, far from the mistake.
    """
    if not inspect.isawaitable(value):
        return
    name = getattr(value, "__qualname__", None) or type(value).__name__
    if inspect.iscoroutine(value):
        value.close()
    raise ValidationError(
        field, f"got {type(value).__name__} {name}, not its result: {AWAIT_HINT}", value=value
    )


def reject_awaitables(fields: Mapping[str, object]) -> None:
    """:func:`reject_awaitable` for several arguments at once: the first coroutine is
    reported, and every other one is closed too (left open, each would warn "never
    awaited" later, far from the mistake)."""
    awaitables = [name for name, value in fields.items() if inspect.isawaitable(value)]
    for name in awaitables[1:]:
        value = fields[name]
        if inspect.iscoroutine(value):
            value.close()
    if awaitables:
        reject_awaitable(fields[awaitables[0]], field=awaitables[0])


def validated(adapter: TypeAdapter[T], value: object, *, field: str, expected: str) -> T:
    """``value`` checked by a pydantic type (``adapter``), or a ValidationError naming
    ``field`` and saying what was ``expected``: one message style for every input."""
    reject_awaitable(value, field=field)
    try:
        return adapter.validate_python(value)
    except pydantic.ValidationError:
        raise ValidationError(
            field, f"expected {expected}, got {_shown(value)}", value=value
        ) from None


def _shown(value: object) -> str:
    """A short repr of a rejected value (repr first, then cut: escapes lengthen it)."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def parse_id(value: object, *, field: str) -> str:
    """Return the canonical string form of a UUID id, or raise naming ``field``."""
    reject_awaitable(value, field=field)
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
        raise ValidationError(
            field,
            f"expected a UUID like 123e4567-e89b-12d3-a456-426614174000, got {_shown(text)}",
            value=value,
        ) from None


# A calendar date object: strict, so neither a string nor a datetime (whose time of day
# would silently be dropped) passes for one.
CalendarDate = Annotated[dt.date, Strict()]
_CALENDAR_DATE: TypeAdapter[dt.date] = TypeAdapter(CalendarDate)


def require_date(value: object, *, field: str) -> dt.date:
    """``value`` if it is a calendar date (a datetime is not one), else a ValidationError."""
    return validated(_CALENDAR_DATE, value, field=field, expected="a date such as 2025-06-01")


# Dates a query range may use. Ranges become half-open timestamp bounds
# ``[start 00:00, end + 1 day 00:00)``, so the last day Python can represent
# (9999-12-31) cannot end a range: ``end + 1 day`` would overflow. PostgreSQL's date and
# timestamptz types cover this whole window (4713 BC to 294276 AD).
EARLIEST_DATE = dt.date(1, 1, 1)
LATEST_DATE = dt.date.max - dt.timedelta(days=1)


def date_range_problem(value: dt.date) -> str | None:
    """Why a query range may not start or end on ``value``, or None when it may."""
    if EARLIEST_DATE <= value <= LATEST_DATE:
        return None
    return (
        f"expected a date from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}, "
        f"got {value.isoformat()}"
    )


def require_date_in_range(value: dt.date, *, field: str) -> dt.date:
    """``value`` if a query range may start or end on it, else a ValidationError."""
    reject_awaitable(value, field=field)
    problem = date_range_problem(value)
    if problem is not None:
        raise ValidationError(field, problem, value=value)
    return value


def storable_text(value: str) -> str:
    """Text PostgreSQL can store: no NUL character, nothing that is not valid UTF-8."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\x00)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid UTF-8 text (it holds undecodable bytes)") from None
    return value


def non_blank_text(value: str) -> str:
    """Stripped (of every Unicode whitespace, as ``str.strip``), non-empty, storable."""
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return storable_text(stripped)


# A currency code (ISO 4217 form, three capital letters): money is converted into one,
# and the code is shown in labels, headings and plotly hover templates, so nothing else
# may pass for one. The one definition: filters, column units and charts all use it.
CurrencyCode = Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Z]{3}$")]
_CURRENCY_CODE: TypeAdapter[str] = TypeAdapter(CurrencyCode)


def require_currency_code(value: object, *, field: str = "currency") -> str:
    """``value`` if it is a :data:`CurrencyCode`, else a ValidationError naming ``field``."""
    return validated(_CURRENCY_CODE, value, field=field, expected="a currency code such as EUR")


def is_currency_code(value: object) -> bool:
    """Whether ``value`` is a :data:`CurrencyCode` (a money column's filled-in unit)."""
    try:
        _CURRENCY_CODE.validate_python(value)
    except pydantic.ValidationError:
        return False
    return True


# Required text: stripped, non-blank, storable; 300 characters for names and titles,
# 40 for short labels.
NonBlankText = Annotated[str, StringConstraints(max_length=300), AfterValidator(non_blank_text)]
ShortText = Annotated[str, StringConstraints(max_length=40), AfterValidator(non_blank_text)]


def build(model: type[ModelT], data: Mapping[str, Any], *, prefix: str = "") -> ModelT:
    """Validate ``data`` into ``model``; the first problem becomes a ValidationError."""
    reject_awaitables({f"{prefix}{name}": value for name, value in data.items()})
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise first_problem(exc, model=model, prefix=prefix) from None


def first_problem(
    exc: pydantic.ValidationError, *, model: type[pydantic.BaseModel], prefix: str = ""
) -> ValidationError:
    """pydantic's error as the project's: the first problem, naming its field, with a
    count of the others (never pydantic's multi-line rendering)."""
    first = exc.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, ValidationError) and not first["loc"]:
        # A model whose __init__ raises the project's error (OverviewFilters): keep it.
        return ValidationError(f"{prefix}{cause.field}", cause.reason, value=cause.value)
    reason = str(first["msg"])
    if first["type"] == "value_error":  # our own validators: drop pydantic's prefix
        cause = first.get("ctx", {}).get("error")
        reason = getattr(cause, "reason", None) or str(cause)
    location = ".".join(str(part) for part in first["loc"]) or model.__name__
    field = f"{prefix}{location}"
    problems = len(exc.errors())
    more = (
        f" (and {problems - 1} more problem{'s' if problems > 2 else ''})" if problems > 1 else ""
    )
    return ValidationError(field, f"{reason}{more}", value=first.get("input"))


class CheckedModel(pydantic.BaseModel):
    """A model whose direct construction (``Model(field=...)``) fails the way the rest
    of the package does: a coroutine given for a field asks about ``await`` (every one
    closed), and any other problem is the project's ValidationError naming the field,
    never pydantic's multi-line error repeating the input."""

    def __init__(self, **data: Any) -> None:
        reject_awaitables(data)
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise first_problem(exc, model=type(self)) from None
