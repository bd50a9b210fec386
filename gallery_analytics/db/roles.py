"""Least-privilege database roles: who may read, who may write, who owns the schema.

Why roles and not only ``BEGIN READ ONLY``: a read-only transaction is a flag the
caller can flip (``SET TRANSACTION READ WRITE``, or ``COMMIT`` and start again), and a
superuser can write files on the server (``COPY ... TO '/path'``). Read-only has to be a
property of *who is connected*, so the workbench uses three roles, none a superuser:

- ``gallery_owner`` owns the database and its tables; migrations and demo reloads
  (which drop and re-add constraints) run as this role, never the application.
- ``gallery_writer`` may read and change rows (``SELECT, INSERT, UPDATE, DELETE,
  TRUNCATE``) and create temporary staging tables for imports; no DDL on real tables.
- ``gallery_reader`` may only ``SELECT``: no temporary tables, no large objects, no
  sequences, and ``default_transaction_read_only`` on as a second fence.

The embedded server creates and grants them itself (:func:`provision_database`); for a
server you run, ``README.md`` lists the same statements for a DBA to run.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import URL

from gallery_analytics.db.admin import maintenance_connection, quote_identifier


@dataclass(frozen=True, slots=True)
class RoleNames:
    """The three application roles (one cluster may hold several galleries' databases)."""

    owner: str = "gallery_owner"
    writer: str = "gallery_writer"
    reader: str = "gallery_reader"


APP_ROLES = RoleNames()

# Tables the application roles may read but only the schema owner may change: API
# tokens (a token with the write scope must never be able to mint one) and the data
# version and the rollups (written only by the triggers on data writes, migrations 0005
# and 0006).
OWNER_WRITES_ONLY = (
    "api_tokens",
    "data_version",
    "rollup_sales_daily",
    "rollup_sales_monthly",
    "rollup_artworks_monthly",
    "rollup_visits_weekly",
    "rollup_exhibition_works",
)


@dataclass(frozen=True, slots=True)
class RoleUrls:
    """URLs of one database, one per role (password-less: the embedded server trusts its
    private socket, and a role cannot become another role from SQL without membership)."""

    owner: URL
    writer: URL
    reader: URL


def role_urls(server_url: URL, database: str, roles: RoleNames = APP_ROLES) -> RoleUrls:
    """The owner, writer and reader URLs of ``database`` on the embedded server."""
    base = server_url.set(database=database, password=None)
    return RoleUrls(
        owner=base.set(username=roles.owner),
        writer=base.set(username=roles.writer),
        reader=base.set(username=roles.reader),
    )


# Functions every role may call by default that a SELECT-only role must not: creating
# large objects would let it store data, and signalling backends would let any analyst
# end or cancel the reads of everyone sharing the role. (asyncpg cancels its own queries
# with the protocol's cancel key, which needs no function.)
_REVOKED_FROM_PUBLIC = (
    "lo_create(oid)",
    "lo_creat(integer)",
    "lo_from_bytea(oid, bytea)",
    "lo_import(text)",
    "lo_import(text, oid)",
    "pg_terminate_backend(integer, bigint)",
    "pg_cancel_backend(integer)",
)


async def provision_database(
    superuser_url: URL, database: str, roles: RoleNames = APP_ROLES
) -> None:
    """Create the roles if missing and give ``database`` to them (idempotent).

    Run as a superuser on a database the workbench created. Tables that already exist
    (a database from before roles) are handed to the owner, so migrations can alter them.
    """
    owner, writer, reader = (
        quote_identifier(name) for name in (roles.owner, roles.writer, roles.reader)
    )
    target = quote_identifier(database)
    async with (
        maintenance_connection(superuser_url, database=database) as server,
        server.transaction(),
    ):
        # Roles are cluster-wide; serialise concurrent provisioning (two notebooks).
        await server.execute("SELECT pg_advisory_xact_lock(7151932)")
        existing = {
            row["rolname"]
            for row in await server.fetch(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])",
                [roles.owner, roles.writer, roles.reader],
            )
        }
        for name, quoted in (
            (roles.owner, owner),
            (roles.writer, writer),
            (roles.reader, reader),
        ):
            if name not in existing:
                await server.execute(
                    f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    "NOREPLICATION NOBYPASSRLS"
                )
        # A role may always change its own defaults (ALTER ROLE CURRENT_USER SET ...);
        # provisioning puts them back. Connections also send the settings that shape
        # results at startup, which outrank these (gallery_analytics.db.database).
        for quoted in (owner, writer, reader):
            await server.execute(f"ALTER ROLE {quoted} RESET ALL")
            await server.execute(f"ALTER ROLE {quoted} IN DATABASE {target} RESET ALL")
        await server.execute(f"ALTER ROLE {reader} SET default_transaction_read_only = on")
        await server.execute(f"ALTER DATABASE {target} OWNER TO {owner}")
        await server.execute(f"REVOKE ALL ON DATABASE {target} FROM PUBLIC")
        await server.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {target} TO {writer}")
        await server.execute(f"GRANT CONNECT ON DATABASE {target} TO {reader}")
        await server.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        await server.execute(f"GRANT USAGE ON SCHEMA public TO {writer}, {reader}")
        for function in _REVOKED_FROM_PUBLIC:
            await server.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
        await _hand_existing_objects_to(server, owner)
        await server.execute(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO {writer}"
        )
        await server.execute(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
            f"GRANT SELECT ON TABLES TO {reader}"
        )
        await server.execute(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
            f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {writer}"
        )
        await server.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public "
            f"TO {writer}"
        )
        await server.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}")
        await server.execute(
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {writer}"
        )
        # Tables only the owner writes (the writer may read them): granted above with
        # all the others, so taken back here too, not only by their migration.
        for table in OWNER_WRITES_ONLY:
            await server.execute(
                f"DO $$ BEGIN IF to_regclass('public.{table}') IS NOT NULL THEN "
                f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON public.{table} FROM {writer}; "
                "END IF; END $$"
            )


async def _hand_existing_objects_to(server: asyncpg.Connection, owner: str) -> None:
    """Give tables, sequences and types of schema ``public`` made by another role to the owner."""
    relations = await server.fetch(
        """
        SELECT c.relname, c.relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) <> $1
          AND NOT EXISTS (  -- sequences owned by a column follow their table
              SELECT 1 FROM pg_depend d
              WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND c.relkind = 'S')
        """,
        owner.strip('"'),
    )
    for row in relations:
        kind = {"S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW"}.get(row["relkind"], "TABLE")
        await server.execute(f"ALTER {kind} {quote_identifier(row['relname'])} OWNER TO {owner}")
    types = await server.fetch(
        """
        SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
          AND pg_get_userbyid(t.typowner) <> $1
        """,
        owner.strip('"'),
    )
    for row in types:
        await server.execute(f"ALTER TYPE {quote_identifier(row['typname'])} OWNER TO {owner}")


async def roles_provisioned(
    superuser_url: URL, database: str, roles: RoleNames = APP_ROLES
) -> bool:
    """Whether ``database`` already belongs to the owner role (provisioning has run)."""
    async with maintenance_connection(superuser_url, database=database) as server:
        owner = await server.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", database
        )
        roles_found = await server.fetchval(
            "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1::text[])",
            [roles.owner, roles.writer, roles.reader],
        )
    return bool(owner == roles.owner and roles_found == 3)


async def role_can_write(connection: asyncpg.Connection) -> str | None:
    """Why the connected role can change data (superuser, or a write privilege), else None."""
    row = await connection.fetchrow(
        """
        SELECT r.rolsuper,
               (SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                  AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')) AS tables,
               has_database_privilege(current_database(), 'TEMPORARY') AS temporary,
               has_schema_privilege('public', 'CREATE') AS create
        FROM pg_roles r WHERE r.rolname = current_user
        """
    )
    if row is None:
        return None
    if row["rolsuper"]:
        return "it is a superuser"
    if row["tables"]:
        return f"it may change rows of {row['tables']}"
    if row["temporary"]:
        return "it may create temporary tables"
    if row["create"]:
        return "it may create tables in schema public"
    return None
