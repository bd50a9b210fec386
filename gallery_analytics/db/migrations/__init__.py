"""Alembic migrations of the gallery schema: the one place that issues DDL.

``env.py`` is Alembic's environment; ``versions/`` holds one revision per schema change.
Run them with ``gallery-analytics db upgrade`` (or :func:`gallery_analytics.db.schema.
upgrade_schema`); the plain ``alembic`` command works too from a source checkout.
"""
