"""Unit tests: no database. The few checks that need a fresh interpreter run in
subprocesses started as soon as their tests are collected, so they overlap with the
in-process tests instead of adding to them."""

from __future__ import annotations

import pytest

from tests.unit import fresh_interpreters


def pytest_collection_finish(session: pytest.Session) -> None:
    fresh_interpreters.start_for([item.nodeid for item in session.items])


def pytest_unconfigure(config: pytest.Config) -> None:
    fresh_interpreters.stop_unread()
