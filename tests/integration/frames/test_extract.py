"""extract_frame (COPY -> Arrow) must equal the slow SQLAlchemy path in dtypes and values."""

from __future__ import annotations

import pandas as pd
import pandas.testing as pdt
import pytest
from sqlalchemy import select, text

from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Artwork
from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.errors import DatabaseError, ValidationError
from gallery_analytics.frames import extract_frame, fetch_frame

QUERIES = {
    "whole table": "SELECT * FROM artworks",
    "join with nulls": """
        SELECT w.id, w.title, w.year_created, w.list_price, w.acquired_at, w.status,
               w.list_price > 5000 AS pricey, e.starts_on, e.title AS show,
               NULLIF(w.year_created % 7, 0) AS sometimes_null
        FROM artworks w
        LEFT JOIN exhibition_artworks ea ON ea.artwork_id = w.id
        LEFT JOIN exhibitions e ON e.id = ea.exhibition_id
    """,
    "aggregates": """
        SELECT date_trunc('month', sold_at) AS month, currency, count(*) AS sales,
               sum(price) AS revenue, avg(price)::float8 AS mean, bool_or(price > 10000) AS big
        FROM sales GROUP BY 1, 2 ORDER BY 1, 2
    """,
    "empty": "SELECT id, title, list_price, acquired_at FROM artworks WHERE false",
    "awkward values": r"""
        SELECT * FROM (VALUES
            (1::bigint, 'comma, "quote"', 1.5::numeric, TRUE, NULL::boolean, DATE '2024-02-29',
             'NaN'::numeric, 'Infinity'::float8, NULL::text, ''::text),
            (2, E'new\nline\r\nand tab\t', NULL, FALSE, TRUE, NULL, -0.01, -1e300, 'ü€😀', NULL),
            (3, '\N', 0, TRUE, FALSE, DATE '1900-01-01', 12345678901.23, 0, 'NULL', 'x')
        ) AS t(id, text_value, amount, flag, maybe_flag, day, special, big, unicode, empty_or_null)
    """,
    "duplicate column names": (
        "SELECT a.id, b.id FROM artworks a JOIN artists b ON b.id = a.artist_id"
    ),
}


@pytest.mark.parametrize("name", QUERIES)
async def test_fast_path_equals_slow_path(seeded_db: Database, name: str) -> None:
    fast = await extract_frame(seeded_db, QUERIES[name])
    slow = await fetch_frame(seeded_db, QUERIES[name])
    pdt.assert_frame_equal(fast, slow, check_exact=True)


async def test_dtypes_follow_the_result_types(seeded_db: Database) -> None:
    frame = await extract_frame(seeded_db, QUERIES["awkward values"])
    assert frame["id"].dtype == "int64"
    assert frame["amount"].dtype == "float64"  # numeric: never object columns of Decimal
    assert frame["flag"].dtype == "bool"
    assert frame["maybe_flag"].dtype == "boolean"  # nulls preserved
    assert frame["maybe_flag"].isna().tolist() == [True, False, False]
    assert str(frame["day"].dtype) == "datetime64[us]"
    assert frame["text_value"].tolist()[:2] == ['comma, "quote"', "new\nline\r\nand tab\t"]
    assert frame["text_value"].tolist()[2] == "\\N"
    assert frame["unicode"].tolist()[1:] == ["ü€😀", "NULL"]
    assert frame["empty_or_null"].tolist()[0] == ""  # an empty string is not a null
    assert frame["empty_or_null"].isna().tolist() == [False, True, False]
    assert pd.isna(frame["special"][0])
    assert frame["big"][0] == float("inf")

    artworks = await extract_frame(seeded_db, "SELECT acquired_at, year_created FROM artworks")
    assert str(artworks["acquired_at"].dtype) == "datetime64[us, UTC]"
    assert artworks["year_created"].dtype == "int64"


async def test_empty_result_has_columns_and_dtypes(seeded_db: Database) -> None:
    frame = await extract_frame(seeded_db, QUERIES["empty"])
    assert frame.empty
    assert list(frame.columns) == ["id", "title", "list_price", "acquired_at"]
    assert frame["list_price"].dtype == "float64"
    assert str(frame["acquired_at"].dtype) == "datetime64[us, UTC]"


async def test_select_with_bound_parameters(seeded_db: Database) -> None:
    statement = select(Artwork.id, Artwork.status, Artwork.list_price).where(
        Artwork.status.in_([ArtworkStatus.SOLD, ArtworkStatus.ON_LOAN]),
        Artwork.medium.in_(["Print", "Photography"]),
        Artwork.list_price > 500,
    )
    fast = await extract_frame(seeded_db, statement)
    slow = await fetch_frame(seeded_db, statement)
    pdt.assert_frame_equal(fast, slow)
    assert len(fast) > 0
    assert set(fast["status"]) <= {"sold", "on_loan"}
    assert (fast["list_price"] > 500).all()


async def test_text_parameters_are_bound_not_formatted(seeded_db: Database) -> None:
    hostile = "x'); DROP TABLE users; --"
    frame = await extract_frame(
        seeded_db, "SELECT count(*) AS n, :probe AS echoed FROM users", {"probe": hostile}
    )
    assert frame["echoed"].tolist() == [hostile]
    assert frame["n"].tolist() == [40]  # the users table is still there
    by_title = await extract_frame(
        seeded_db, text("SELECT id FROM artworks WHERE title = :title"), {"title": hostile}
    )
    assert by_title.empty


@pytest.mark.parametrize(
    ("query", "params", "field"),
    [
        ("", None, "query"),
        (42, None, "query"),
        ("SELECT :a AS a", {"a": 1, "b": 2}, "params"),
        ("SELECT 1", ["not", "a", "dict"], "params"),
    ],
)
async def test_bad_arguments_are_clear_errors(
    seeded_db: Database, query: object, params: object, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await extract_frame(seeded_db, query, params)  # type: ignore[arg-type]
    assert caught.value.field == field


async def test_sql_errors_are_project_errors(seeded_db: Database) -> None:
    with pytest.raises(DatabaseError, match="does not exist"):
        await extract_frame(seeded_db, "SELECT * FROM no_such_table")
    assert seeded_db.pool_status()["checked_out"] == 0


async def test_extract_runs_read_only(seeded_db: Database) -> None:
    with pytest.raises(DatabaseError):
        await extract_frame(
            seeded_db, "WITH gone AS (DELETE FROM sales RETURNING id) SELECT * FROM gone"
        )
    assert len(await extract_frame(seeded_db, "SELECT id FROM sales")) == 1_500


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT 1 AS x; -- the last line an editor left", [1]),
        ("SELECT 2 AS x;\n/* done */ ;\n\n-- really done\n", [2]),
        ("SELECT 3 AS x /* ; */;", [3]),
        ("SELECT 4 AS x; -- trailing blanks   \t", [4]),
        ("SELECT '--;' AS x;", ["--;"]),
        ("SELECT 'x; -- y' AS x -- 'z';", ["x; -- y"]),
    ],
)
async def test_what_follows_the_last_semicolon_may_be_comments(
    seeded_db: Database, query: str, expected: list[object]
) -> None:
    """As pasted from an editor: one statement, its semicolon, then notes. (It was
    refused as "cannot be read as rows".) Comment marks inside a string are the string's."""
    frame = await extract_frame(seeded_db, query)
    assert frame["x"].tolist() == expected


async def test_two_statements_are_refused(seeded_db: Database) -> None:
    with pytest.raises(DatabaseError, match="multiple commands"):
        await extract_frame(seeded_db, "SELECT 1 AS x; SELECT 2 AS y -- two")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT 'costs $1' AS note, CAST(:x AS int) AS x", {"note": "costs $1"}),
        ("SELECT E'it''s \\'$1\\'' AS note, CAST(:x AS int) AS x", {"note": "it's '$1'"}),
        ('SELECT 1 AS "col$1", CAST(:x AS int) AS x', {"col$1": 1}),
        ("SELECT $$ $1 $$ AS note, CAST(:x AS int) AS x", {"note": " $1 "}),
        ("SELECT $tag$ it's $1 $tag$ AS note, CAST(:x AS int) AS x", {"note": " it's $1 "}),
        ("SELECT 'a' AS note, /* $1 */ CAST(:x AS int) AS x -- $1", {"note": "a"}),
    ],
)
@pytest.mark.parametrize("value", [None, 5])
async def test_placeholder_text_inside_literals_is_left_alone(
    seeded_db: Database, query: str, expected: dict[str, object], value: int | None
) -> None:
    """Parameters are inlined for ADBC's COPY: only real placeholders are replaced, never
    "$1" inside a string, a quoted name, a dollar-quoted string or a comment."""
    fast = await extract_frame(seeded_db, query, {"x": value})
    slow = await fetch_frame(seeded_db, query, {"x": value})
    pdt.assert_frame_equal(fast, slow)
    for column, wanted in expected.items():
        assert fast[column].tolist() == [wanted]
    assert fast["x"].isna().tolist() == [value is None]


async def test_numerics_beyond_float8_are_infinite_or_zero_as_in_python(
    seeded_db: Database,
) -> None:
    """float(Decimal) gives inf, -inf, 0.0 and -0.0 past float8's range; the server's
    numeric -> float8 cast raises instead, which failed the whole extract."""
    query = """
        SELECT * FROM (VALUES ('1e400'::numeric), ('-1e400'), ('1e-400'), ('-1e-400'),
            ('1.5e308'), ('NaN'), (NULL), ('Infinity'), ('-Infinity'), (0), ('2e-310'))
        AS t(n)
    """
    fast = await extract_frame(seeded_db, query)
    slow = await fetch_frame(seeded_db, query)
    pdt.assert_frame_equal(fast, slow, check_exact=True)
    values = fast["n"].tolist()
    assert values[:5] == [float("inf"), float("-inf"), 0.0, -0.0, 1.5e308]
    assert str(values[3]) == "-0.0"


async def test_infinities_among_ordinary_values_match_the_slow_path(seeded_db: Database) -> None:
    """ADBC's wrapped infinities are clamped value by value, next to ordinary values and
    NULLs in the same batch (as asyncpg clamps them: 9999-12-31 ..., 0001-01-01)."""
    query = """
        SELECT v::timestamp AS ts, v::timestamptz AS tstz, v::date AS day
        FROM (VALUES ('infinity'), ('2024-02-29 12:00'), (NULL), ('-infinity'),
                     ('0001-01-01'), ('9999-12-31')) AS t(v)
    """
    fast = await extract_frame(seeded_db, query)
    slow = await fetch_frame(seeded_db, query)
    pdt.assert_frame_equal(fast, slow, check_exact=True)
    assert str(fast["day"][0]) == "9999-12-31 00:00:00"
    assert str(fast["ts"][3]) == "0001-01-01 00:00:00"
