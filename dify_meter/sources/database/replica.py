"""Whether a replica has everything the primary had at a window's end, or the day must wait.

The last replayed commit's time says so when Dify wrote after the window. When Dify has been idle since, that
time stays before the window's end however current the replica is; then the WAL receiver's last report of the
primary's WAL end decides: replayed up to it, and reported after the window's end, means nothing is missing.
PostgreSQL shows that report only to a role with pg_read_all_stats (docs/dify-database-grants.sql, optional).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import class_row

from dify_meter.sources.database.errors import ReplicaLagError
from dify_meter.sources.database.queries import query
from dify_meter.sources.database.sessions import DatabaseTarget

# A commit made with synchronous_commit=off reaches the WAL (and the replica) up to 3 x wal_writer_delay (600 ms
# by default) after it returns: a report of the primary's WAL end counts only this long after the window's end.
ASYNC_COMMIT_MARGIN = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class ReplicaState:
    in_recovery: bool
    replayed_until: datetime | None  # the last replayed commit's time
    # The primary's last report (NULL without pg_read_all_stats, or with no WAL receiver): when, and whether
    # replay is still short of the WAL end it reported.
    primary_end_reported_at: datetime | None = None
    replay_behind_primary: bool | None = None


def replica_state(target: DatabaseTarget, connection: psycopg.Connection) -> ReplicaState:
    try:
        with connection.cursor(row_factory=class_row(ReplicaState)) as cursor:
            state = cursor.execute(query("replica_state")).fetchone()
    except psycopg.Error as exc:
        raise target.error("cannot check replication state", exc) from None
    assert state is not None
    return state


def replica_lag(state: ReplicaState, hi: datetime, now: datetime) -> ReplicaLagError | None:
    """None when a window ending at `hi` can be read now."""
    if not state.in_recovery:
        return None
    needed = min(hi, now)
    if state.replayed_until is not None and state.replayed_until >= needed:
        return None
    reported = state.primary_end_reported_at
    if reported is not None and reported >= needed + ASYNC_COMMIT_MARGIN and state.replay_behind_primary is False:
        return None  # Dify was idle since: replayed all the primary had when it reported, after the window
    hint = (
        ""
        if reported is not None
        else " If Dify has written nothing since, the replica may be current: let the role read the WAL "
        "receiver's state (GRANT pg_read_all_stats, docs/dify-database-grants.sql) so dify_meter can tell."
    )
    return ReplicaLagError(
        f"the replica has replayed Dify's writes only up to {state.replayed_until} but the window ends {hi}: "
        f"read this day again later (or point DIFY_DATABASE_URL at the primary).{hint}"
    )


def check_replica(target: DatabaseTarget, connection: psycopg.Connection, hi: datetime, now: datetime) -> None:
    """Raise ReplicaLagError if the replica behind `connection` may miss rows written before `hi`."""
    if (lag := replica_lag(replica_state(target, connection), hi, now)) is not None:
        raise lag
