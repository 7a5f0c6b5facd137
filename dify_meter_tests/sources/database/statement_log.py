"""What a test database's sessions sent, from the server's own log: its statements, as PostgreSQL received them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import psycopg.conninfo

from dify_meter_tests.support.postgres import EmbeddedPostgres


@contextmanager
def logged_statements(postgres: EmbeddedPostgres, url: str) -> Iterator[list[str]]:
    """The log lines of the statements sent to the database of `url` inside the block (filled at its end).

    Only that database logs its statements (`ALTER DATABASE … SET log_statement`), so other tests' sessions on
    the same server add nothing; every line of a statement's text is kept."""
    database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(url, autocommit=True) as admin:  # applies to the sessions opened from now on
        admin.execute(f"ALTER DATABASE \"{database}\" SET log_statement = 'all'")
    log = postgres.root / "log"
    start = len(log.read_text(errors="replace"))
    lines: list[str] = []
    yield lines
    lines.extend(log.read_text(errors="replace")[start:].splitlines())
