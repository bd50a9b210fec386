"""The HTTP API: the workbench's services over HTTP (FastAPI; the ``api`` extra).

Routes follow the platform notes: a route gets a session from a request-scoped
dependency (:mod:`~gallery_analytics.api.dependencies`), hands it to a service, and
returns the service's DTOs; the dependency commits or rolls back. Routes that run
queries in parallel (the user dashboard, the overview) hand the service the
``Database`` instead, so every gathered task gets its own session and connection.
``gallery-analytics serve`` runs :func:`create_app` under uvicorn.
"""

from gallery_analytics.extras import require_extra

with require_extra("api", needed_by=__name__):
    import fastapi  # noqa: F401  (a missing extra is one sentence, here)
    import fastapi_offline  # noqa: F401

from gallery_analytics.api.app import create_app

__all__ = ["create_app"]
