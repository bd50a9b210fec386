"""The pure checks of API tokens: names and scopes, before any database is asked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gallery_analytics.errors import ValidationError
from gallery_analytics.services.tokens import Scope, check_name, check_scopes


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", fullmatch=True))
def test_every_plain_name_up_to_100_characters_is_accepted(name: str) -> None:
    assert check_name(name) == name


@given(st.text(max_size=120))
def test_a_name_is_accepted_only_when_plain_and_short(name: str) -> None:
    plain = (
        0 < len(name) <= 100
        and name[0].isascii()
        and name[0].isalnum()
        and all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    )
    if plain:
        assert check_name(name) == name
    else:
        with pytest.raises(ValidationError) as caught:
            check_name(name)
        assert caught.value.field == "name"


@pytest.mark.parametrize(
    ("given_scopes", "expected"),
    [
        (["read"], {Scope.READ}),
        ("write", {Scope.WRITE}),  # one scope as a string, not its letters
        ([Scope.IMPORT, "read", "read"], {Scope.IMPORT, Scope.READ}),
        (("read", "write", "import"), set(Scope)),
    ],
)
def test_scopes_are_parsed_to_a_set(given_scopes: object, expected: set[Scope]) -> None:
    assert check_scopes(given_scopes) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [[], "", ["admin"], ["Read"], ["read", "all"], [None]])
def test_unknown_or_missing_scopes_name_the_scope_field(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        check_scopes(bad)  # type: ignore[arg-type]
    assert caught.value.field == "scope"
