"""What a value in a collection CSV may be: one declaration per file and per kind of value.

The rows of each file are pydantic models (:class:`ArtistRow`, :class:`ArtworkRow`):
their fields are the columns we read, in order, and each field's type says how its text
becomes a value and what is plausible. Years and sizes accept ASCII digits only
(``int()`` and ``Decimal()`` would also take "²" or Arabic-Indic digits) within the
bounds declared once below.

A value that cannot be read (text where a number belongs, "(left):" in a size) fails
with the error type ``UNUSABLE``: an import may then keep the row without that optional
value and warn. A value that reads but cannot be true (a birth year of 99999, an
acquisition in year 0) is ``INVALID``, like a missing required value, text the
database cannot store or a death before a birth: the row is rejected.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from gallery_analytics.db.models import RATE_BASE_CURRENCY
from gallery_analytics.domain.values import storable_text

__all__ = [
    "ACQUISITION_YEARS",
    "INVALID",
    "LIFE_YEARS",
    "UNUSABLE",
    "ArtistRow",
    "ArtworkRow",
    "RateRow",
    "ValueProblem",
    "YearRange",
    "find_year",
    "parse_millimetres",
    "parse_month",
    "parse_rate",
    "parse_year",
    "parse_year_value",
]

UNUSABLE = "unusable_value"
INVALID = "invalid_value"


class ValueProblem(PydanticCustomError):
    """A value is unusable (``UNUSABLE``) or invalid (``INVALID``); ``str()`` says why."""

    def __new__(cls, reason: str, kind: str = UNUSABLE) -> ValueProblem:
        # The reason goes in through the context: braces in it are not a template.
        return super().__new__(cls, kind, "{reason}", {"reason": reason})


@dataclass(frozen=True, slots=True)
class YearRange:
    """The plausible years of one kind of date: ``earliest`` to the current year."""

    earliest: int
    kind: str

    def latest(self) -> int:
        """This year (UTC): nothing was born, made or acquired in the future."""
        return dt.datetime.now(dt.UTC).year

    def check(self, year: int, text: str) -> int:
        latest = self.latest()
        if not self.earliest <= year <= latest:
            raise ValueProblem(
                f"expected a year from {self.earliest} to {latest}, got {text}", INVALID
            )
        return year


# The plausible years, declared once. Lives and works reach back to antiquity (negative
# years are BCE); public collections began acquiring in the sixteenth century.
LIFE_YEARS = YearRange(-3000, "birth, death or creation")
ACQUISITION_YEARS = YearRange(1500, "acquisition")

_INTEGER = re.compile(r"-?[0-9]+")
_YEAR_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{4})(?![0-9])")
_MILLIMETRES = re.compile(r"[0-9]{1,12}(?:\.[0-9]{0,12})?|\.[0-9]{1,12}")
# At least 0.05 mm: stored in cm with two decimals, rounded half up as PostgreSQL rounds
# numeric (0.05 mm is 0.01 cm; half-to-even would make it 0); at most what
# numeric(10, 2) centimetres hold, with room to spare.
SMALLEST_MM = Decimal("0.05")
LARGEST_MM = Decimal(100_000_000)
_CENTIMETRE = Decimal("0.01")


def parse_year(text: str | None) -> int | None:
    """The first four-digit (ASCII) year in free text ("c.1880", "1920-5", "1960s")."""
    if not text:
        return None
    match = _YEAR_IN_TEXT.search(text)
    return int(match.group(1)) if match else None


def parse_year_value(text: str, years: YearRange) -> int:
    """A year written as an integer ("1887", "-500") within ``years``."""
    if not _INTEGER.fullmatch(text):
        raise ValueProblem(f"expected a year such as 1887, got {text!r}")
    if len(text) > 8:  # int() of thousands of digits is slow (and refused past 4,300)
        raise ValueProblem(
            f"expected a year from {years.earliest} to {years.latest()}, got {text[:20]}"
            + ("..." if len(text) > 20 else ""),
            INVALID,
        )
    return years.check(int(text), text)


def find_year(text: str, years: YearRange, *, required: bool) -> int | None:
    """The year in free text ("c.1856"); None if there is none and it is not ``required``."""
    year = parse_year(text)
    if year is None:
        if required:
            raise ValueProblem(f"expected a year such as 1887, got {text!r}")
        return None
    return years.check(year, text)


def parse_millimetres(text: str) -> Decimal:
    """A size written in millimetres ("1219", "200.5"), returned in centimetres."""
    if not _MILLIMETRES.fullmatch(text):
        raise ValueProblem(f"expected a number of millimetres, got {text!r}")
    size = Decimal(text)
    if not SMALLEST_MM <= size <= LARGEST_MM:
        raise ValueProblem(f"expected a positive size in millimetres, got {text!r}")
    return (size / 10).quantize(_CENTIMETRE, rounding=ROUND_HALF_UP)


_CURRENCY = re.compile(r"[A-Z]{3}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})(?:-01)?")
# What exchange_rates.rate (numeric(18, 10)) holds: 8 digits before the point, 10 after.
_RATE = re.compile(r"[0-9]{1,8}(?:\.[0-9]{0,10})?|\.[0-9]{1,10}")


def parse_currency(text: str) -> str:
    """A currency code as ISO 4217 writes it: three capital letters ("USD")."""
    if not _CURRENCY.fullmatch(text):
        raise ValueProblem(f"expected a currency code such as USD, got {text!r}", INVALID)
    return text


def parse_month(text: str) -> dt.date:
    """A month, "2024-03" or its first day "2024-03-01", as the month's first day."""
    match = _MONTH.fullmatch(text)
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) == 0:
        raise ValueProblem(
            f"expected a month such as 2024-03 (or its first day, 2024-03-01), got {text!r}",
            INVALID,
        )
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def parse_rate(text: str) -> Decimal:
    """A rate: what one unit of the row's currency was worth in the base currency, a
    positive number with at most 8 digits before the point and 10 after ("0.9234")."""
    if not _RATE.fullmatch(text) or Decimal(text) == 0:
        raise ValueProblem(
            f"expected a positive number such as 0.92 (one unit's worth in "
            f"{RATE_BASE_CURRENCY}, at most 8 digits before the point and 10 after), "
            f"got {text!r}",
            INVALID,
        )
    return Decimal(text)


def _text(limit: int | None) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            storable_text(value)
        except ValueError as exc:
            raise ValueProblem(str(exc), INVALID) from None
        if limit is not None and len(value) > limit:
            raise ValueProblem(f"longer than {limit} characters", INVALID)
        return value

    return check


def _year(years: YearRange) -> Callable[[str], int]:
    return lambda text: parse_year_value(text, years)


def _year_in_text(years: YearRange) -> Callable[[str], int | None]:
    return lambda text: find_year(text, years, required=True)


Id = Annotated[str, BeforeValidator(_text(200))]
Name = Annotated[str, BeforeValidator(_text(300))]
Label = Annotated[str, BeforeValidator(_text(40))]
Text100 = Annotated[str, BeforeValidator(_text(100))]
Text300 = Annotated[str, BeforeValidator(_text(300))]
Text = Annotated[str, BeforeValidator(_text(None))]
LifeYear = Annotated[int, BeforeValidator(_year(LIFE_YEARS))]
AcquisitionYear = Annotated[int, BeforeValidator(_year_in_text(ACQUISITION_YEARS))]
Centimetres = Annotated[Decimal, BeforeValidator(parse_millimetres)]

_ROW = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class ArtistRow(BaseModel):
    """A row of artists.csv (``id`` and ``name`` required)."""

    model_config = _ROW

    id: Id
    name: Name
    gender: Label | None = None
    birth_year: LifeYear | None = None
    death_year: LifeYear | None = None
    nationality: Text100 | None = None
    place_of_birth: Text300 | None = None

    @field_validator("death_year")
    @classmethod
    def _after_birth(cls, death: int | None, info: ValidationInfo) -> int | None:
        birth = info.data.get("birth_year")
        if death is not None and birth is not None and death < birth:
            raise ValueProblem(f"death ({death}) is before birth ({birth})", INVALID)
        return death


class ArtworkRow(BaseModel):
    """A row of artworks.csv (``id`` and ``title`` required; no ``artist_id`` means an
    unknown artist). Sizes arrive in millimetres and are kept in centimetres; ``year`` is
    free text whose first year, if plausible, becomes the creation year."""

    model_config = _ROW

    id: Id
    artist_id: Id | None = None
    title: Text
    accession_number: Text100 | None = None
    medium: Text300 | None = None
    year: Text | None = None
    acquisition_year: AcquisitionYear | None = None
    width_mm: Centimetres | None = None
    height_mm: Centimetres | None = None
    depth_mm: Centimetres | None = None
    credit_line: Text | None = None


class RateRow(BaseModel):
    """A row of a rates CSV (every column required): ``currency``, ``month`` and
    ``rate``, what one unit of the currency was worth in the base currency that month.
    The base currency's own rate, if given, must be 1."""

    model_config = _ROW

    currency: Annotated[str, BeforeValidator(parse_currency)]
    month: Annotated[dt.date, BeforeValidator(parse_month)]
    rate: Annotated[Decimal, BeforeValidator(parse_rate)]

    @field_validator("rate")
    @classmethod
    def _base_is_one(cls, rate: Decimal, info: ValidationInfo) -> Decimal:
        if info.data.get("currency") == RATE_BASE_CURRENCY and rate != 1:
            raise ValueProblem(
                f"{RATE_BASE_CURRENCY} is the currency rates are quoted in; its rate is 1, "
                f"got {rate}",
                INVALID,
            )
        return rate
