"""What an extract strips after the query: blanks, semicolons and comments, never a
string's or a quoted name's text (a property over generated endings)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from gallery_analytics.frames.plan import _without_statement_end

QUERIES = [
    "SELECT 1 AS x",
    "SELECT '--;' AS x",
    'SELECT 1 AS "a -- b;"',
    "SELECT $$ /* ; $$ AS x",
    "SELECT E'it\\'s; --' AS x",
    "SELECT 1 AS x /* kept: inside */ + 0",
]

# A note's text: often the characters the stripping treats specially (a ";" or a blank
# at a comment's end was read as the statement's end: "SELECT 2-- ;" lost its ";").
_note = st.lists(
    st.one_of(
        st.sampled_from([";", " ", "\t", "-", "'", '"', "$$"]),
        st.characters(blacklist_characters="\n\r*/", codec="utf-8"),
    ),
    max_size=8,
).map("".join)
ENDINGS = st.lists(
    st.one_of(
        st.sampled_from([";", " ", "\n", "\t", ";;"]),
        _note.map(lambda text: f"-- {text}\n"),
        _note.map(lambda text: f"/* {text} */"),
    ),
    max_size=8,
).map("".join)


@given(query=st.sampled_from(QUERIES), ending=ENDINGS)
@example(query="SELECT 1 AS x", ending="-- ;\n")
@example(query="SELECT 1 AS x", ending="/* ; */ ;")
def test_only_the_ending_goes(query: str, ending: str) -> None:
    assert _without_statement_end(query + ending) == query


@given(query=st.sampled_from(QUERIES), ending=ENDINGS)
@example(query="SELECT 1 AS x", ending="-- ;\n")
def test_a_second_statement_stays(query: str, ending: str) -> None:
    """Not hidden: the server refuses two statements."""
    second = f"{query}; SELECT 2{ending}"
    assert _without_statement_end(second) == f"{query}; SELECT 2"
