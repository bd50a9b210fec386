"""The migration scripts checked without a server: one linear history ending at the
revision the code expects, and legacy adoption statements that match models.py."""

from __future__ import annotations

import gallery_analytics.db.schema as schema
from gallery_analytics.db.models import Base
from gallery_analytics.db.schema import (
    BASELINE_REVISION,
    HEAD_REVISION,
    LEGACY_UPGRADES,
    script_directory,
)


def test_head_revision_is_the_single_head_of_the_scripts() -> None:
    """HEAD_REVISION (what connect() expects) is the scripts' one head; the history is
    linear and starts at the baseline."""
    scripts = script_directory()
    assert scripts.get_heads() == [HEAD_REVISION]
    assert scripts.get_bases() == [BASELINE_REVISION]
    assert schema.known_revisions() == {revision.revision for revision in scripts.walk_revisions()}


def test_legacy_upgrades_only_add_what_models_declare() -> None:
    """The frozen adoption statements name only columns and indexes models.py has."""
    columns = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
    }
    indexes = {index.name for table in Base.metadata.tables.values() for index in table.indexes}
    for statement in LEGACY_UPGRADES:
        words = statement.split()
        if statement.startswith("ALTER TABLE"):
            assert (words[2], words[8]) in columns, statement
        else:
            assert words[6] in indexes, statement
