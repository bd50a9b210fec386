"""Notebook tests (nbval): give the notebooks' kernels a seeded database.

Notebooks read ``GALLERY_DATABASE_URL`` like any analyst session. When the collected
tests include notebooks, a throwaway embedded server is started (or
``GALLERY_TEST_SERVER_URL`` is used), the small demo dataset is seeded with the fixed
demo seed, and the URL is exported before the first kernel starts, so every notebook
sees the rows its committed outputs were made from.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from gallery_analytics.db.embedded import EmbeddedPostgres
from gallery_analytics.notebooks import kernel_environment, prepare_notebook_database


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(item.path.suffix == ".ipynb" for item in items):
        return
    configured = os.environ.get("GALLERY_TEST_SERVER_URL")
    if configured:
        server_url = make_url(configured)
    else:
        server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="gallery-notebooks-")))
        server_url = make_url(server.start())
        config.add_cleanup(server.stop)
    database = asyncio.run(prepare_notebook_database(server_url, provision_roles=True))
    os.environ.update(kernel_environment(database))
