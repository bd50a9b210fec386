"""Liveness and readiness, for load balancers and orchestrators.

``/health/live`` answers whenever the process serves requests (no database: a database
outage must not get healthy workers restarted). ``/health/ready`` says whether this
worker can serve: the database answers and its schema is at this code's revision; with
a streaming replica it also says where reads go and the replica's measured lag (a replica
that is down leaves the worker ready: reads fall back to the primary). Neither needs a
token (they reveal no address and no credential).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from gallery_analytics.api.dependencies import DatabaseDep
from gallery_analytics.db.replicas import ReplicaStatus
from gallery_analytics.db.schema import HEAD_REVISION, check_schema

router = APIRouter(prefix="/health", tags=["health"])


class Health(BaseModel):
    status: str
    schema_revision: str | None = None
    replica: ReplicaStatus | None = None


@router.get("/live", response_model_exclude_none=True)
async def live() -> Health:
    return Health(status="live")


@router.get(
    "/ready",
    response_model_exclude_none=True,
    responses={503: {"description": "database unreachable or schema not at this revision"}},
)
async def ready(db: DatabaseDep) -> Health:
    # One read-only round trip to the primary: reachable and at head. Unreachable or an
    # unpooled pool is a 503 with Retry-After, a schema at another revision 503 naming
    # it (api.problems maps the errors).
    await check_schema(db)
    if db.replica_status() is not None:
        # One read where reads go, so the replica's state is measured, not remembered
        # (down: the read falls back to the primary and the worker stays ready).
        await db.run_read(lambda session: session.execute(text("SELECT 1")))
    return Health(
        status="ready",
        schema_revision=HEAD_REVISION,
        replica=db.replica_status(),
    )
