"""The gallery schema as SQLAlchemy 2.0 typed ORM models.

Ids are UUIDs stored in PostgreSQL's ``uuid`` type and exposed to Python as strings,
so DTOs and frames never carry ``uuid.UUID`` objects. Constraints live in the database
(foreign keys, CHECKs, NOT NULL) because imports and other tools write here too; the
indexes are the ones the dashboard queries filter, join or group on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
    func,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gallery_analytics.domain.enums import ArtworkStatus

# Deterministic constraint names: error messages and migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _uuid_pk() -> Mapped[str]:
    return mapped_column(Uuid(as_uuid=False), primary_key=True, default=new_id)


def _uuid_fk(target: str, *, nullable: bool = False, ondelete: str = "RESTRICT") -> Mapped[str]:
    return mapped_column(
        Uuid(as_uuid=False), ForeignKey(target, ondelete=ondelete), nullable=nullable
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = _uuid_pk()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("position('@' in email) > 1", name="email_has_at"),
        CheckConstraint("length(btrim(display_name)) > 0", name="display_name_not_blank"),
    )


class Artist(Base):
    __tablename__ = "artists"

    id: Mapped[str] = _uuid_pk()
    owner_id: Mapped[str] = _uuid_fk("users.id")
    name: Mapped[str] = mapped_column(String(300))
    nationality: Mapped[str | None] = mapped_column(String(100))
    gender: Mapped[str | None] = mapped_column(String(40))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    death_year: Mapped[int | None] = mapped_column(Integer)
    place_of_birth: Mapped[str | None] = mapped_column(String(300))
    # Imported rows remember where they came from: (source, source_id) is unique, which
    # makes re-importing the same file an update, not a duplicate.
    source: Mapped[str | None] = mapped_column(String(100))
    source_id: Mapped[str | None] = mapped_column(String(200))

    owner: Mapped[User] = relationship(lazy="raise")

    __table_args__ = (
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        CheckConstraint(
            "death_year IS NULL OR birth_year IS NULL OR death_year >= birth_year",
            name="died_after_birth",
        ),
        Index(None, "owner_id"),
        Index(None, "nationality", "gender"),
        Index("uq_artists_source_source_id", "source", "source_id", unique=True),
    )


class Artwork(Base):
    __tablename__ = "artworks"

    id: Mapped[str] = _uuid_pk()
    artist_id: Mapped[str] = _uuid_fk("artists.id")
    owner_id: Mapped[str] = _uuid_fk("users.id")
    title: Mapped[str] = mapped_column(Text)
    # Nullable because real collections (CSV imports) often lack it.
    medium: Mapped[str | None] = mapped_column(String(300))
    year_created: Mapped[int | None] = mapped_column(Integer)
    width_cm: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    height_cm: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    status: Mapped[ArtworkStatus] = mapped_column(
        Enum(
            ArtworkStatus,
            name="artwork_status",
            values_callable=lambda members: [member.value for member in members],
        ),
        default=ArtworkStatus.AVAILABLE,
        server_default=ArtworkStatus.AVAILABLE.value,
    )
    list_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    acquired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    depth_cm: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    year_text: Mapped[str | None] = mapped_column(Text)  # the date as the source wrote it
    accession_number: Mapped[str | None] = mapped_column(String(100))
    credit_line: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(100))
    source_id: Mapped[str | None] = mapped_column(String(200))

    artist: Mapped[Artist] = relationship(lazy="raise")

    __table_args__ = (
        CheckConstraint("length(btrim(title)) > 0", name="title_not_blank"),
        CheckConstraint("list_price IS NULL OR list_price >= 0", name="list_price_not_negative"),
        CheckConstraint("width_cm IS NULL OR width_cm > 0", name="width_positive"),
        CheckConstraint("height_cm IS NULL OR height_cm > 0", name="height_positive"),
        Index(None, "artist_id"),
        Index(None, "owner_id"),
        Index(None, "medium", "status"),
        Index(None, "acquired_at"),
        Index("uq_artworks_source_source_id", "source", "source_id", unique=True),
    )


class Exhibition(Base):
    __tablename__ = "exhibitions"

    id: Mapped[str] = _uuid_pk()
    curator_id: Mapped[str] = _uuid_fk("users.id")
    title: Mapped[str] = mapped_column(String(300))
    venue: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        CheckConstraint("length(btrim(title)) > 0", name="title_not_blank"),
        Index(None, "curator_id"),
        Index(None, "starts_on", "ends_on"),
    )


class ExhibitionArtwork(Base):
    __tablename__ = "exhibition_artworks"

    exhibition_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("exhibitions.id", ondelete="CASCADE"), primary_key=True
    )
    artwork_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("artworks.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index(None, "artwork_id"),)


class Sale(Base):
    __tablename__ = "sales"

    id: Mapped[str] = _uuid_pk()
    artwork_id: Mapped[str] = _uuid_fk("artworks.id")
    sold_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), server_default="EUR")
    buyer_country: Mapped[str | None] = mapped_column(String(2))

    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso_4217"),
        CheckConstraint(
            "buyer_country IS NULL OR buyer_country ~ '^[A-Z]{2}$'", name="buyer_country_iso"
        ),
        Index(None, "artwork_id"),
        Index(None, "sold_at"),
    )


class ExhibitionVisit(Base):
    __tablename__ = "exhibition_visits"

    exhibition_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("exhibitions.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("visitors >= 0", name="visitors_not_negative"),
        Index(None, "day"),
    )


class GalleryDataset(Base):
    """What the data in this database is: at most one row (``id`` is always true).

    ``reference_date`` is the dataset's "today": demo data is generated around a fixed
    date and records it, so every notebook, service and query on it agrees on which
    exhibitions are open "now" whatever the calendar says; NULL (real data) means the
    calendar's today. ``GALLERY_TODAY`` overrides both (see ``Database.today``).
    """

    __tablename__ = "gallery_dataset"

    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=true())
    reference_date: Mapped[dt.date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (CheckConstraint("id", name="single_row"),)


RATE_BASE_CURRENCY = "EUR"
"""The currency every exchange rate is quoted in; its own rate is 1 by definition."""
LIST_PRICE_CURRENCY = RATE_BASE_CURRENCY
"""The currency of ``artworks.list_price`` (asking prices carry no currency of their own)."""


class ExchangeRate(Base):
    """What one unit of ``currency`` was worth in :data:`RATE_BASE_CURRENCY` during
    ``month`` (its first day): one rate per currency and month.

    Money panels convert each sale at its own month's rate, ``price * rate(sale currency)
    / rate(chosen currency)``; the base currency needs no row (a row for it must say 1).
    A sale whose currency or the chosen one has no rate for its month is left out of the
    sums and counted in the panel's notes, never dropped silently.
    """

    __tablename__ = "exchange_rates"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 10))

    __table_args__ = (
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso_4217"),
        CheckConstraint("month = date_trunc('month', month)::date", name="month_first_day"),
        CheckConstraint("rate > 0", name="rate_positive"),
        CheckConstraint(
            f"currency <> '{RATE_BASE_CURRENCY}' OR rate = 1", name="base_currency_is_one"
        ),
    )


class ApiToken(Base):
    """A token for the HTTP API: its public ``key_id``, the SHA-256 digest of its secret
    (never the secret), its scopes (read, write, import) and when it was revoked.

    Written only by the schema owner (``gallery-analytics api-token``); the application
    roles may read it (migration 0004 and ``db/roles.py`` keep the writer from writing).
    """

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    key_id: Mapped[str] = mapped_column(Text, unique=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("char_length(name) BETWEEN 1 AND 100", name="name_length"),
        CheckConstraint(
            "cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'import']::text[]",
            name="known_scopes",
        ),
        CheckConstraint("octet_length(secret_hash) = 32", name="sha256_digest"),
    )


class DataVersion(Base):
    """How many times the gallery's data has been written: one row, bumped by a trigger
    on every data table in the writing transaction (migration 0005), so it is exactly as
    new as the rows a snapshot sees. Panel caches key their entries by it."""

    __tablename__ = "data_version"

    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=true())
    version: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("id", name="single_row"),
        CheckConstraint("version > 0", name="positive"),
    )


# Parent tables first: the order COPY loads them and the reverse of the order they empty.
TABLES_IN_DEPENDENCY_ORDER = [
    User.__table__,
    Artist.__table__,
    Artwork.__table__,
    Exhibition.__table__,
    ExhibitionArtwork.__table__,
    Sale.__table__,
    ExhibitionVisit.__table__,
    ExchangeRate.__table__,
]


# -- rollups (migration 0006) ----------------------------------------------------------------
# The overview panels' sums, kept exact by triggers on sales, artworks and
# exhibition_visits in the writing transaction (queries/overview.py reads them; only the
# triggers write them). Core tables: their keys hold NULLs (an undated artwork, a work
# with no medium), which no primary key may, so a NULLS NOT DISTINCT unique index keys
# them instead.
_ROLLUP_STATUS = Artwork.__table__.c.status.type

rollup_sales_daily = Table(
    "rollup_sales_daily",
    Base.metadata,
    Column("day", Date, nullable=False),
    Column("artist_id", Uuid(as_uuid=False), nullable=False),
    Column("owner_id", Uuid(as_uuid=False), nullable=False),
    Column("medium", String(300)),
    Column("status", _ROLLUP_STATUS, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("sales", BigInteger, nullable=False),
    Column("price", Numeric, nullable=False),
    # The rate month of ``day``, stored (migration 0009): computed once per written row,
    # not per row read when the rates are joined.
    Column(
        "month",
        Date,
        Computed(
            "(date_trunc('month'::text, (day)::timestamp without time zone))::date",
            persisted=True,
        ),
    ),
    Index(
        "uq_rollup_sales_daily_key",
        "day",
        "artist_id",
        "owner_id",
        "medium",
        "status",
        "currency",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
    Index("ix_rollup_sales_daily_artist_id", "artist_id", "day"),
    Index("ix_rollup_sales_daily_owner_id", "owner_id", "day"),
)
"""Sales per UTC day x artist x owner x medium x status x currency (the artwork's)."""

rollup_sales_monthly = Table(
    "rollup_sales_monthly",
    Base.metadata,
    Column("month", Date, nullable=False),
    Column("medium", String(300)),
    Column("status", _ROLLUP_STATUS, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("sales", BigInteger, nullable=False),
    Column("price", Numeric, nullable=False),
    Index(
        "uq_rollup_sales_monthly_key",
        "month",
        "medium",
        "status",
        "currency",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
)
"""Sales per UTC month x medium x status x currency."""

rollup_artworks_monthly = Table(
    "rollup_artworks_monthly",
    Base.metadata,
    Column("month", Date),
    Column("medium", String(300)),
    Column("status", _ROLLUP_STATUS, nullable=False),
    Column("artworks", BigInteger, nullable=False),
    Column("priced", BigInteger, nullable=False),
    Column("list_price", Numeric, nullable=False),
    Index(
        "uq_rollup_artworks_monthly_key",
        "month",
        "medium",
        "status",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
)
"""Artworks per UTC acquisition month (NULL: undated) x medium x status; ``priced``
counts those with a list price, ``list_price`` sums them."""

rollup_visits_weekly = Table(
    "rollup_visits_weekly",
    Base.metadata,
    Column("week", Date, primary_key=True),
    Column("exhibition_id", Uuid(as_uuid=False), primary_key=True),
    Column("visitors", BigInteger, nullable=False),
    Column("days", Integer, nullable=False),
)
"""Visitors per ISO week (its Monday) x exhibition; ``days`` counts the visit rows."""

# -- migration 0008: the large-data overview's exhibition filter and artists panel ----------

rollup_exhibition_works = Table(
    "rollup_exhibition_works",
    Base.metadata,
    Column("exhibition_id", Uuid(as_uuid=False), nullable=False),
    Column("medium", String(300)),
    Column("status", _ROLLUP_STATUS, nullable=False),
    Column("works", BigInteger, nullable=False),
    Index(
        "uq_rollup_exhibition_works_key",
        "medium",
        "status",
        "exhibition_id",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
    Index("ix_rollup_exhibition_works_exhibition_id", "exhibition_id"),
)
"""Exhibition links per exhibition x the work's medium x status (medium first: the
medium and status filters are an index range)."""

# Covering indexes for artists_by_nationality_gender's EXISTS over an artist's works
# (index-only scans on 1M artworks, migration 0008).
Index(
    "ix_artworks_acquired_at_artist_id",
    Artwork.__table__.c.acquired_at,
    Artwork.__table__.c.artist_id,
    postgresql_include=["medium", "status"],
)
Index(
    "ix_artworks_medium_status_acquired_at",
    Artwork.__table__.c.medium,
    Artwork.__table__.c.status,
    Artwork.__table__.c.acquired_at,
    Artwork.__table__.c.artist_id,
)
