"""Rows of (scenario, expected, observed) recorded by the fault-injection tests and
printed at the end of the run (see ``pytest_terminal_summary`` in tests/conftest.py)."""

from __future__ import annotations

FAULT_TABLE: list[tuple[str, str, str]] = []
