"""Generate a deterministic synthetic gallery as Arrow tables.

Same seed, same rows, byte for byte: every table draws from its own child of one
``numpy.random.SeedSequence``, nothing depends on the clock, and the calendar is
anchored at fixed dates (:data:`DEMO_TODAY` is the demo's "today"). Everything is
vectorised with numpy and pyarrow so the 1M-artwork dataset is generated in seconds.

Distributions are meant to look like a real mid-sized gallery in charts: popular artists
own most works, prices are log-normal per medium, sales follow art-fair seasons and
grow year on year, exhibition attendance has weekly cycles and an opening rush.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gallery_analytics.db.models import RATE_BASE_CURRENCY
from gallery_analytics.demo import vocabulary as vocab

DEFAULT_SEED = 42
DEMO_TODAY = dt.date(2025, 11, 15)
_ACQUISITIONS_FROM = dt.date(2005, 1, 1)
_ACQUISITIONS_UNTIL = dt.date(2025, 10, 31)
_ACTIVITY_FROM = dt.date(2018, 1, 1)  # first sale and first exhibition
_SECONDS_PER_DAY = 86_400
_EPOCH = dt.date(1970, 1, 1)

Int64Array = np.ndarray[tuple[int], np.dtype[np.int64]]
FloatArray = np.ndarray[tuple[int], np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class DemoSize:
    """How many rows of each kind a demo dataset has."""

    name: str
    users: int
    artists: int
    artworks: int
    exhibitions: int
    sales: int
    artworks_per_exhibition: int


SIZES: dict[str, DemoSize] = {
    size.name: size
    for size in (
        DemoSize("small", 40, 200, 2_000, 60, 1_500, 25),
        DemoSize("medium", 400, 5_000, 100_000, 1_000, 75_000, 40),
        DemoSize("large", 2_000, 20_000, 1_000_000, 10_000, 1_000_000, 40),
    )
}

TABLE_ORDER = (
    "users",
    "artists",
    "artworks",
    "exhibitions",
    "exhibition_artworks",
    "sales",
    "exhibition_visits",
    "exchange_rates",
)


def generate_demo_data(size: DemoSize, seed: int = DEFAULT_SEED) -> dict[str, pa.Table]:
    """All demo tables, keyed by table name, columns named as in the schema."""
    # One stream per table; a new table takes the next child, so the others keep their rows.
    streams = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(8)]
    users = _users(streams[0], size)
    artists = _artists(streams[1], size, users)
    artworks = _artworks(streams[2], size, users, artists)
    exhibitions = _exhibitions(streams[3], size, users)
    exhibition_artworks = _exhibition_artworks(streams[4], size, exhibitions, artworks)
    sales = _sales(streams[5], size, artworks)
    visits = _visits(streams[6], exhibitions)
    rates = _exchange_rates(streams[7])
    tables = {
        "users": users,
        "artists": artists.drop_columns(["_fame"]),
        "artworks": artworks.drop_columns(["_medium_index"]),
        "exhibitions": exhibitions,
        "exhibition_artworks": exhibition_artworks,
        "sales": sales,
        "exhibition_visits": visits,
        "exchange_rates": rates,
    }
    return {name: tables[name] for name in TABLE_ORDER}


# -- helpers ------------------------------------------------------------------------------


def _uuids(rng: np.random.Generator, count: int) -> pa.StringArray:
    """Random version-4 UUIDs as 32-hex-digit strings, built without a Python loop."""
    raw = np.frombuffer(rng.bytes(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    data = raw.tobytes().hex().encode("ascii")
    offsets = np.arange(0, 32 * (count + 1), 32, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))


def _pick(
    rng: np.random.Generator, weighted: tuple[tuple[object, float], ...], count: int
) -> Int64Array:
    weights = np.array([weight for _, weight in weighted], dtype=np.float64)
    return rng.choice(len(weighted), size=count, p=weights / weights.sum())


def _labels(values: tuple[str | None, ...] | list[str | None], indices: Int64Array) -> pa.Array:
    return pa.array(values, type=pa.string()).take(pa.array(indices))


def _days(day: dt.date) -> int:
    return (day - _EPOCH).days


def _dates(days_since_epoch: Int64Array) -> pa.Array:
    return pa.array(days_since_epoch.astype(np.int32), type=pa.date32())


def _timestamps(seconds_since_epoch: Int64Array) -> pa.Array:
    return pa.array(seconds_since_epoch * 1_000_000, type=pa.timestamp("us", tz="UTC"))


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


# -- tables -------------------------------------------------------------------------------


def _users(rng: np.random.Generator, size: DemoSize) -> pa.Table:
    n = size.users
    emails = pa.array([f"user{i:05d}@gallery.example" for i in range(n)])
    first = _labels(list(vocab.FIRST_NAMES), rng.integers(len(vocab.FIRST_NAMES), size=n))
    last = _labels(list(vocab.LAST_NAMES), rng.integers(len(vocab.LAST_NAMES), size=n))
    start = _days(dt.date(2015, 1, 1)) * _SECONDS_PER_DAY
    created = start + rng.integers(0, 3 * 365 * _SECONDS_PER_DAY, size=n)
    return pa.table(
        {
            "id": _uuids(rng, n),
            "email": emails,
            "display_name": _join(first, " ", last),
            "created_at": _timestamps(created),
        }
    )


def _artists(rng: np.random.Generator, size: DemoSize, users: pa.Table) -> pa.Table:
    n = size.artists
    # A few users (gallery managers) look after most artists.
    owner_weights = 1.0 / np.arange(1, size.users + 1) ** 0.8
    owners = rng.choice(size.users, size=n, p=owner_weights / owner_weights.sum())
    first = _labels(list(vocab.FIRST_NAMES), rng.integers(len(vocab.FIRST_NAMES), size=n))
    last = _labels(list(vocab.LAST_NAMES), rng.integers(len(vocab.LAST_NAMES), size=n))
    nationality = _labels(
        [name for name, _ in vocab.NATIONALITIES], _pick(rng, vocab.NATIONALITIES, n)
    )
    gender = _labels([name for name, _ in vocab.GENDERS], _pick(rng, vocab.GENDERS, n))
    birth = np.clip(np.rint(rng.normal(1966, 20, size=n)), 1880, 2003).astype(np.int64)
    lifespan = rng.integers(58, 96, size=n)
    deceased = (birth < 1935) | ((birth < 1960) & (rng.random(size=n) < 0.25))
    death_year = np.minimum(birth + lifespan, 2024)
    death = pa.array(death_year, mask=~deceased | (death_year <= birth), type=pa.int32())
    return pa.table(
        {
            "id": _uuids(rng, n),
            "owner_id": users["id"].take(pa.array(owners)),
            "name": _join(first, " ", last),
            "nationality": nationality,
            "gender": gender,
            "birth_year": pa.array(birth, type=pa.int32()),
            "death_year": death,
            # Market standing: scales prices and how many works an artist has.
            "_fame": pa.array(rng.lognormal(0.0, 0.6, size=n)),
        }
    )


def _artworks(
    rng: np.random.Generator, size: DemoSize, users: pa.Table, artists: pa.Table
) -> pa.Table:
    n = size.artworks
    fame = artists["_fame"].to_numpy()
    artist_index = rng.choice(size.artists, size=n, p=fame / fame.sum())
    artist_owner = artists["owner_id"].take(pa.array(artist_index))
    other_owner = users["id"].take(pa.array(rng.integers(size.users, size=n)))
    owner = pc.if_else(pa.array(rng.random(size=n) < 0.9), artist_owner, other_owner)

    adjectives = rng.integers(len(vocab.TITLE_ADJECTIVES), size=n)
    nouns = rng.integers(len(vocab.TITLE_NOUNS), size=n)
    numbers = np.where(rng.random(size=n) < 0.5, rng.integers(1, 60, size=n), 0)
    suffixes = [""] + [f" No. {k}" for k in range(1, 60)]
    title = _join(
        _labels(list(vocab.TITLE_ADJECTIVES), adjectives),
        " ",
        _labels(list(vocab.TITLE_NOUNS), nouns),
        _labels(list(suffixes), numbers),
    )

    medium_index = _pick(rng, tuple((m[0], m[1]) for m in vocab.MEDIUMS), n)
    median_price = np.array([m[2] for m in vocab.MEDIUMS], dtype=np.float64)[medium_index]
    median_side = np.array([m[3] for m in vocab.MEDIUMS], dtype=np.float64)[medium_index]

    birth = artists["birth_year"].to_numpy()[artist_index].astype(np.int64)
    death = artists["death_year"].fill_null(2025).to_numpy()[artist_index].astype(np.int64)
    first_year = birth + 18
    last_year = np.maximum(np.minimum(death, 2025), first_year)
    year_created = first_year + np.floor(rng.random(size=n) * (last_year - first_year + 1)).astype(
        np.int64
    )

    long_side = np.round(median_side * rng.lognormal(0.0, 0.35, size=n), 1) + 5.0
    short_side = np.round(long_side * rng.uniform(0.55, 1.0, size=n), 1)
    landscape = rng.random(size=n) < 0.55
    width = np.where(landscape, long_side, short_side)
    height = np.where(landscape, short_side, long_side)

    price = median_price * fame[artist_index] * rng.lognormal(0.0, 0.7, size=n)
    list_price = np.maximum(np.round(price / 50.0) * 50.0, 100.0).astype(np.int64)

    status = _labels([name for name, _ in vocab.STATUSES], _pick(rng, vocab.STATUSES, n))

    # Acquired after it was made, more often in recent years.
    created_day = np.array([_days(dt.date(int(y), 1, 1)) for y in range(1898, 2026)])
    earliest = np.maximum(_days(_ACQUISITIONS_FROM), created_day[year_created - 1898])
    latest = _days(_ACQUISITIONS_UNTIL)
    acquired_day = earliest + np.floor((latest - earliest) * rng.random(size=n) ** 0.7).astype(
        np.int64
    )
    acquired = acquired_day * _SECONDS_PER_DAY + rng.integers(9 * 3600, 18 * 3600, size=n)

    return pa.table(
        {
            "id": _uuids(rng, n),
            "artist_id": artists["id"].take(pa.array(artist_index)),
            "owner_id": owner,
            "title": title,
            "medium": _labels([m[0] for m in vocab.MEDIUMS], medium_index),
            "year_created": pa.array(year_created, type=pa.int32()),
            "width_cm": pa.array(width),
            "height_cm": pa.array(height),
            "status": status,
            "list_price": pa.array(list_price),
            "acquired_at": _timestamps(acquired),
            "_medium_index": pa.array(medium_index),
        }
    )


def _exhibitions(rng: np.random.Generator, size: DemoSize, users: pa.Table) -> pa.Table:
    n = size.exhibitions
    theme = _labels(
        list(vocab.EXHIBITION_THEMES), rng.integers(len(vocab.EXHIBITION_THEMES), size=n)
    )
    adjective = _labels(
        list(vocab.TITLE_ADJECTIVES), rng.integers(len(vocab.TITLE_ADJECTIVES), size=n)
    )
    noun = _labels(list(vocab.TITLE_NOUNS), rng.integers(len(vocab.TITLE_NOUNS), size=n))
    venue_index = rng.integers(len(vocab.VENUES), size=n)
    first, last = _days(_ACTIVITY_FROM), _days(dt.date(2025, 10, 31))
    starts = rng.integers(first, last + 1, size=n)
    ends = starts + rng.integers(40, 161, size=n)
    return pa.table(
        {
            "id": _uuids(rng, n),
            "curator_id": users["id"].take(pa.array(rng.integers(size.users, size=n))),
            "title": _join(theme, ": ", adjective, " ", noun),
            "venue": _labels([venue for venue, _ in vocab.VENUES], venue_index),
            "city": _labels([city for _, city in vocab.VENUES], venue_index),
            "starts_on": _dates(starts),
            "ends_on": _dates(ends),
        }
    )


def _exhibition_artworks(
    rng: np.random.Generator, size: DemoSize, exhibitions: pa.Table, artworks: pa.Table
) -> pa.Table:
    per_show = rng.integers(
        size.artworks_per_exhibition // 2,
        size.artworks_per_exhibition * 3 // 2 + 1,
        size=size.exhibitions,
    )
    show = np.repeat(np.arange(size.exhibitions, dtype=np.int64), per_show)
    work = rng.integers(size.artworks, size=show.size)
    # A work hangs once per show: drop repeated pairs (np.unique also sorts them).
    pairs = np.unique(show * size.artworks + work)
    return pa.table(
        {
            "exhibition_id": exhibitions["id"].take(pa.array(pairs // size.artworks)),
            "artwork_id": artworks["id"].take(pa.array(pairs % size.artworks)),
        }
    )


def _sales(rng: np.random.Generator, size: DemoSize, artworks: pa.Table) -> pa.Table:
    status = artworks["status"].to_numpy(zero_copy_only=False)
    sold = np.flatnonzero(status == "sold")
    medium_index = artworks["_medium_index"].to_numpy()
    edition_codes = [i for i, m in enumerate(vocab.MEDIUMS) if m[0] in vocab.EDITION_MEDIUMS]
    editions = np.flatnonzero(np.isin(medium_index, edition_codes))
    extra = max(size.sales - sold.size, 0)
    pool = editions if editions.size else np.arange(size.artworks)
    artwork_index = np.concatenate([sold, rng.choice(pool, size=extra)])
    n = artwork_index.size

    # Month drawn by season and growth, then a day and an hour within it.
    months = [
        (year, month)
        for year in range(_ACTIVITY_FROM.year, DEMO_TODAY.year + 1)
        for month in range(1, 13)
        if dt.date(year, month, 1) <= dt.date(2025, 10, 1)
    ]
    weights = np.array(
        [vocab.MONTH_FACTORS[m - 1] * 1.08 ** (y - _ACTIVITY_FROM.year) for y, m in months]
    )
    month_index = rng.choice(len(months), size=n, p=weights / weights.sum())
    month_start = np.array([_days(dt.date(y, m, 1)) for y, m in months])[month_index]
    day = month_start + rng.integers(0, 28, size=n)
    sold_at = day * _SECONDS_PER_DAY + rng.integers(10 * 3600, 19 * 3600, size=n)
    acquired = pc.cast(artworks["acquired_at"], pa.int64()).to_numpy()[artwork_index] // 1_000_000
    # Nothing sells before the gallery has it.
    catch_up = acquired + rng.integers(1, 120, size=n) * _SECONDS_PER_DAY
    latest = _days(DEMO_TODAY) * _SECONDS_PER_DAY - 1
    sold_at = np.where(sold_at < acquired, np.minimum(catch_up, latest), sold_at)

    currency_index = _pick(rng, vocab.CURRENCIES, n)
    rate = np.array([vocab.EUR_TO[c] for c, _ in vocab.CURRENCIES])[currency_index]
    list_price = artworks["list_price"].to_numpy()[artwork_index].astype(np.float64)
    price = np.round(list_price * rng.lognormal(-0.05, 0.12, size=n) * rate / 10.0) * 10.0
    country = _labels([c for c, _ in vocab.BUYER_COUNTRIES], _pick(rng, vocab.BUYER_COUNTRIES, n))
    unknown_buyer = pa.array(rng.random(size=n) < 0.02)
    return pa.table(
        {
            "id": _uuids(rng, n),
            "artwork_id": artworks["id"].take(pa.array(artwork_index)),
            "sold_at": _timestamps(sold_at),
            "price": pa.array(price.astype(np.int64)),
            "currency": _labels([c for c, _ in vocab.CURRENCIES], currency_index),
            "buyer_country": pc.if_else(unknown_buyer, pa.scalar(None, pa.string()), country),
        }
    )


def _visits(rng: np.random.Generator, exhibitions: pa.Table) -> pa.Table:
    starts = exhibitions["starts_on"].cast(pa.int32()).to_numpy().astype(np.int64)
    ends = np.minimum(exhibitions["ends_on"].cast(pa.int32()).to_numpy(), _days(DEMO_TODAY))
    open_days = np.maximum(ends - starts + 1, 0)
    show = np.repeat(np.arange(starts.size), open_days)
    first_row = np.repeat(np.cumsum(open_days) - open_days, open_days)
    offset = np.arange(show.size) - first_row
    day = starts[show] + offset
    popularity = rng.lognormal(np.log(110.0), 0.6, size=starts.size)[show]
    weekday = np.array(vocab.WEEKDAY_FACTORS)[(day + 3) % 7]  # 1970-01-01 was a Thursday
    opening_rush = 1.0 + 0.8 * np.exp(-offset / 5.0)
    closing_rush = 1.0 + 0.3 * ((ends[show] - day) < 7)
    visitors = rng.poisson(popularity * weekday * opening_rush * closing_rush)
    return pa.table(
        {
            "exhibition_id": exhibitions["id"].take(pa.array(show)),
            "day": _dates(day),
            "visitors": pa.array(visitors.astype(np.int32)),
        }
    )


def _exchange_rates(rng: np.random.Generator) -> pa.Table:
    """A monthly rate for every non-base currency the sales use, over the whole demo
    calendar (first acquisition to today's month): what one unit is worth in EUR.

    Each currency drifts around its demo level (``vocab.EUR_TO``) as a mean-reverting
    monthly walk of about 2 % a month, so conversions differ month to month the way real
    ones do while the prices generated at the fixed level stay believable.
    """
    months = [
        dt.date(year, month, 1)
        for year in range(_ACQUISITIONS_FROM.year, DEMO_TODAY.year + 1)
        for month in range(1, 13)
        if _ACQUISITIONS_FROM <= dt.date(year, month, 1) <= DEMO_TODAY
    ]
    currencies = [code for code, _ in vocab.CURRENCIES if code != RATE_BASE_CURRENCY]
    columns: dict[str, list[pa.Array]] = {"currency": [], "month": [], "rate": []}
    month_days = np.array([_days(month) for month in months], dtype=np.int64)
    for code in currencies:
        shocks = rng.normal(0.0, 0.02, size=len(months))
        drift = np.zeros(len(months))
        for index in range(1, len(months)):
            drift[index] = 0.92 * drift[index - 1] + shocks[index]
        rate = np.round(np.exp(drift) / vocab.EUR_TO[code], 6)
        columns["currency"].append(pa.array([code] * len(months)))
        columns["month"].append(_dates(month_days))
        columns["rate"].append(pa.array(rate))
    return pa.table({name: pa.concat_arrays(parts) for name, parts in columns.items()})
