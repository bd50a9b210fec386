-- The schema as gallery-analytics' create_schema (create_all + ALTER TABLE ... IF NOT
-- EXISTS) made it before migrations existed, frozen as plain SQL: tests adopt such a
-- database with `db upgrade`. Do not regenerate from models.py.

CREATE TYPE artwork_status AS ENUM ('available', 'reserved', 'sold', 'on_loan');

CREATE TABLE users (
    id UUID NOT NULL,
    email VARCHAR(320) NOT NULL,
    display_name VARCHAR(200) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_users PRIMARY KEY (id),
    CONSTRAINT ck_users_email_has_at CHECK (position('@' in email) > 1),
    CONSTRAINT ck_users_display_name_not_blank CHECK (length(btrim(display_name)) > 0),
    CONSTRAINT uq_users_email UNIQUE (email)
);

CREATE TABLE artists (
    id UUID NOT NULL,
    owner_id UUID NOT NULL,
    name VARCHAR(300) NOT NULL,
    nationality VARCHAR(100),
    gender VARCHAR(40),
    birth_year INTEGER,
    death_year INTEGER,
    place_of_birth VARCHAR(300),
    source VARCHAR(100),
    source_id VARCHAR(200),
    CONSTRAINT pk_artists PRIMARY KEY (id),
    CONSTRAINT ck_artists_name_not_blank CHECK (length(btrim(name)) > 0),
    CONSTRAINT ck_artists_died_after_birth CHECK (death_year IS NULL OR birth_year IS NULL OR death_year >= birth_year),
    CONSTRAINT fk_artists_owner_id_users FOREIGN KEY(owner_id) REFERENCES users (id) ON DELETE RESTRICT
);

CREATE INDEX ix_artists_nationality_gender ON artists (nationality, gender);
CREATE INDEX ix_artists_owner_id ON artists (owner_id);
CREATE UNIQUE INDEX uq_artists_source_source_id ON artists (source, source_id);

CREATE TABLE exhibitions (
    id UUID NOT NULL,
    curator_id UUID NOT NULL,
    title VARCHAR(300) NOT NULL,
    venue VARCHAR(200) NOT NULL,
    city VARCHAR(100) NOT NULL,
    starts_on DATE NOT NULL,
    ends_on DATE NOT NULL,
    CONSTRAINT pk_exhibitions PRIMARY KEY (id),
    CONSTRAINT ck_exhibitions_ends_after_start CHECK (ends_on >= starts_on),
    CONSTRAINT ck_exhibitions_title_not_blank CHECK (length(btrim(title)) > 0),
    CONSTRAINT fk_exhibitions_curator_id_users FOREIGN KEY(curator_id) REFERENCES users (id) ON DELETE RESTRICT
);

CREATE INDEX ix_exhibitions_curator_id ON exhibitions (curator_id);
CREATE INDEX ix_exhibitions_starts_on_ends_on ON exhibitions (starts_on, ends_on);

CREATE TABLE artworks (
    id UUID NOT NULL,
    artist_id UUID NOT NULL,
    owner_id UUID NOT NULL,
    title TEXT NOT NULL,
    medium VARCHAR(300),
    year_created INTEGER,
    width_cm NUMERIC(10, 2),
    height_cm NUMERIC(10, 2),
    status artwork_status DEFAULT 'available' NOT NULL,
    list_price NUMERIC(12, 2),
    acquired_at TIMESTAMP WITH TIME ZONE,
    depth_cm NUMERIC(10, 2),
    year_text TEXT,
    accession_number VARCHAR(100),
    credit_line TEXT,
    source VARCHAR(100),
    source_id VARCHAR(200),
    CONSTRAINT pk_artworks PRIMARY KEY (id),
    CONSTRAINT ck_artworks_title_not_blank CHECK (length(btrim(title)) > 0),
    CONSTRAINT ck_artworks_list_price_not_negative CHECK (list_price IS NULL OR list_price >= 0),
    CONSTRAINT ck_artworks_width_positive CHECK (width_cm IS NULL OR width_cm > 0),
    CONSTRAINT ck_artworks_height_positive CHECK (height_cm IS NULL OR height_cm > 0),
    CONSTRAINT fk_artworks_artist_id_artists FOREIGN KEY(artist_id) REFERENCES artists (id) ON DELETE RESTRICT,
    CONSTRAINT fk_artworks_owner_id_users FOREIGN KEY(owner_id) REFERENCES users (id) ON DELETE RESTRICT
);

CREATE INDEX ix_artworks_acquired_at ON artworks (acquired_at);
CREATE INDEX ix_artworks_artist_id ON artworks (artist_id);
CREATE INDEX ix_artworks_medium_status ON artworks (medium, status);
CREATE INDEX ix_artworks_owner_id ON artworks (owner_id);
CREATE UNIQUE INDEX uq_artworks_source_source_id ON artworks (source, source_id);

CREATE TABLE exhibition_visits (
    exhibition_id UUID NOT NULL,
    day DATE NOT NULL,
    visitors INTEGER NOT NULL,
    CONSTRAINT pk_exhibition_visits PRIMARY KEY (exhibition_id, day),
    CONSTRAINT ck_exhibition_visits_visitors_not_negative CHECK (visitors >= 0),
    CONSTRAINT fk_exhibition_visits_exhibition_id_exhibitions FOREIGN KEY(exhibition_id) REFERENCES exhibitions (id) ON DELETE CASCADE
);

CREATE INDEX ix_exhibition_visits_day ON exhibition_visits (day);

CREATE TABLE exhibition_artworks (
    exhibition_id UUID NOT NULL,
    artwork_id UUID NOT NULL,
    CONSTRAINT pk_exhibition_artworks PRIMARY KEY (exhibition_id, artwork_id),
    CONSTRAINT fk_exhibition_artworks_exhibition_id_exhibitions FOREIGN KEY(exhibition_id) REFERENCES exhibitions (id) ON DELETE CASCADE,
    CONSTRAINT fk_exhibition_artworks_artwork_id_artworks FOREIGN KEY(artwork_id) REFERENCES artworks (id) ON DELETE CASCADE
);

CREATE INDEX ix_exhibition_artworks_artwork_id ON exhibition_artworks (artwork_id);

CREATE TABLE sales (
    id UUID NOT NULL,
    artwork_id UUID NOT NULL,
    sold_at TIMESTAMP WITH TIME ZONE NOT NULL,
    price NUMERIC(12, 2) NOT NULL,
    currency VARCHAR(3) DEFAULT 'EUR' NOT NULL,
    buyer_country VARCHAR(2),
    CONSTRAINT pk_sales PRIMARY KEY (id),
    CONSTRAINT ck_sales_price_not_negative CHECK (price >= 0),
    CONSTRAINT ck_sales_currency_iso_4217 CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT ck_sales_buyer_country_iso CHECK (buyer_country IS NULL OR buyer_country ~ '^[A-Z]{2}$'),
    CONSTRAINT fk_sales_artwork_id_artworks FOREIGN KEY(artwork_id) REFERENCES artworks (id) ON DELETE RESTRICT
);

CREATE INDEX ix_sales_artwork_id ON sales (artwork_id);
CREATE INDEX ix_sales_sold_at ON sales (sold_at);

