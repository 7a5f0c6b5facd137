"""Large, realistic Dify databases for the database-source benchmarks, built once and cached under /tmp.

The fetch benchmark's workspace (bench/_fetch_simulator.py, seeds 7 + 8, 32 apps: its mix of modes) is
written by `dify_meter.sandbox.dify.pg_rows` into a version's real schema; the rows of its day (`fetch.DAY`:
messages, their conversations, the day's runs, all their node executions and app logs) become a template,
which PostgreSQL multiplies server-side (`INSERT … SELECT … generate_series`): copy k of the template gets
ids derived from the template's (`md5(id || '/' || k)`) and its times shifted by whole days for multi-day
workloads. Every leaf node's `process_data` is rebuilt as Dify's LLM node writes it, with a prompt of
non-repetitive text in front (paragraphs picked per row by hash: p50 8.0 KiB measured) and the template's keys
(usage, model_provider, model_name) at its end; the server compresses it with its default (pglz).

The cluster's data directory lives in `CACHE_ROOT` (outside the repository); each workload is a database
named by its parameters and `GENERATOR_VERSION`, so reruns only start the server.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import psycopg
from _fetch_simulator import WorkspaceSpec, benchmark_workspace
from fetch import DAY, GENERATED_DAYS, START_DATE, TIMEZONE, window
from psycopg import sql

from dify_meter.sandbox.dify.pg_rows import write_workspace
from dify_meter_tests.support.postgres import EmbeddedPostgres

CACHE_ROOT = Path("/tmp/dify_meter_bench/postgres")
GENERATOR_VERSION = 1  # bump when the built rows change: older databases are then rebuilt
TEMPLATE_SCALE = 26.0  # the fetch benchmark's --scale 26 day: 17,146 LLM calls
LEAF_NODE_TYPES = ("llm", "question-classifier", "parameter-extractor")  # nodes whose process_data has prompts
PARAGRAPHS = 4096  # the pool of prompt paragraphs; a prompt is 3-11 of them picked by hash
COPIED_TABLES = ("conversations", "messages", "workflow_runs", "workflow_node_executions", "workflow_app_logs")
ID_COLUMNS = {"id", "conversation_id", "workflow_run_id", "message_id"}  # renamed per copy (when a table has them)


@dataclass(frozen=True)
class Workload:
    """`copies` copies of the template day on each of `days` consecutive days starting at `fetch.DAY`."""

    version: str = "1.16.1"
    days: int = 1
    copies: int = 59  # 59 x 17,146 = 1,011,614 LLM calls

    @property
    def database(self) -> str:
        return f"bench_v{GENERATOR_VERSION}_{self.version.replace('.', '')}_d{self.days}_c{self.copies}"


@dataclass(frozen=True)
class BuiltWorkload:
    url: str
    workspace_id: str
    calls_per_day: int  # the LLM calls (usage events) of each day: the template day's ground truth x copies
    build_seconds: float  # 0 when it came from the cache


class CachedPostgres(EmbeddedPostgres):
    """The tests' embedded PostgreSQL 18 on a data directory kept between runs."""

    started_here = False

    def start(self) -> CachedPostgres:
        """Start the cached cluster, or join it when another benchmark process is running it."""
        if (running := self._running_port()) is not None:
            self.port = running
            return self
        self.started_here = True
        if not (self.data / "PG_VERSION").exists():
            shutil.rmtree(self.root, ignore_errors=True)
            self.root.mkdir(parents=True)
            super().start()
            return self
        self.pg_ctl_start(timeout=120)  # with the server's default durability: the cache outlives the run
        return self

    def stop(self) -> None:
        if self.started_here:
            super().stop()

    def _running_port(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        if not Path(f"/proc/{lines[0]}").exists():
            return None
        return int(lines[3])

    def template(self, version: str, seeded: bool = True) -> str:
        """The version's template database, made once per cluster (the parent remembers it per process)."""
        name = "template_" + f"{version}{'' if seeded else '-bare'}".replace(".", "_").replace("-", "_")
        with self.admin() as admin:
            if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                self.templates[f"{version}{'' if seeded else '-bare'}"] = name
        return super().template(version, seeded)

    def postgres_pids(self) -> list[int]:
        """The postmaster and every process it started (backends, parallel workers, background workers)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        return [postmaster, *map(int, children)]


def start_server() -> CachedPostgres:
    return CachedPostgres(CACHE_ROOT).start()


def build(server: CachedPostgres, workload: Workload) -> BuiltWorkload:
    """The workload's database, built now unless the cache has it."""
    spec = WorkspaceSpec(TEMPLATE_SCALE, START_DATE, GENERATED_DAYS, TIMEZONE)
    url = server.url(workload.database)
    with server.admin() as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [workload.database]).fetchone()
    if exists:
        with psycopg.connect(url) as connection:
            row = connection.execute("SELECT workspace_id, calls_per_day FROM bench_workload").fetchone()
        if row is not None:
            return BuiltWorkload(url, str(row[0]), int(row[1]), 0.0)
        with server.admin() as admin:  # an interrupted build
            admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(workload.database)))
    start = time.perf_counter()
    workspace = benchmark_workspace(spec)
    day_start, day_end = window(DAY)
    template_calls = len(workspace.ground_truth(day_start, day_end, TIMEZONE))
    with server.admin() as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(workload.database), sql.Identifier(server.template(workload.version, seeded=False))
            )
        )
    with psycopg.connect(url) as connection:
        write_workspace(connection, workspace)
        _make_template(connection, day_start, day_end)
        _write_paragraphs(connection)
        for table in COPIED_TABLES:
            _copy_template(connection, table, workload)
            print(f"  {workload.database}: {table} copied ({time.perf_counter() - start:.0f} s)", flush=True)
        connection.execute(
            "CREATE TABLE bench_workload AS SELECT %s::uuid AS workspace_id, %s::int AS calls_per_day",
            [workspace.tenant.id, template_calls * workload.copies],
        )
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE bench_paragraphs")
        for table in COPIED_TABLES:
            connection.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(f"bench_template_{table}")))
        connection.execute("VACUUM (ANALYZE, FREEZE)")  # hint bits and visibility map set, as on a settled server
        connection.execute("CHECKPOINT")
    return BuiltWorkload(url, workspace.tenant.id, template_calls * workload.copies, time.perf_counter() - start)


def _make_template(connection: psycopg.Connection, lo: object, hi: object) -> None:
    """Move the day's rows into bench_template_* tables (the originals go: every copy is made from them)."""
    params = {"lo": lo, "hi": hi}
    for statement in (
        "CREATE TABLE bench_template_messages AS "
        "SELECT * FROM messages WHERE created_at >= %(lo)s AND created_at < %(hi)s",
        "CREATE TABLE bench_template_conversations AS "
        "SELECT * FROM conversations WHERE id IN (SELECT conversation_id FROM bench_template_messages)",
        "CREATE TABLE bench_template_workflow_runs AS SELECT * FROM workflow_runs "
        "WHERE (created_at >= %(lo)s AND created_at < %(hi)s) "
        "OR id IN (SELECT workflow_run_id FROM bench_template_messages)",
        "CREATE TABLE bench_template_workflow_node_executions AS SELECT * FROM workflow_node_executions "
        "WHERE workflow_run_id IN (SELECT id FROM bench_template_workflow_runs)",
        "CREATE TABLE bench_template_workflow_app_logs AS SELECT * FROM workflow_app_logs "
        "WHERE workflow_run_id IN (SELECT id FROM bench_template_workflow_runs)",
        "DELETE FROM workflow_app_logs WHERE id IN (SELECT id FROM bench_template_workflow_app_logs)",
        "DELETE FROM workflow_node_executions WHERE id IN (SELECT id FROM bench_template_workflow_node_executions)",
        "DELETE FROM workflow_runs WHERE id IN (SELECT id FROM bench_template_workflow_runs)",
        "DELETE FROM messages WHERE id IN (SELECT id FROM bench_template_messages)",
        "DELETE FROM conversations WHERE id IN (SELECT id FROM bench_template_conversations) "
        "AND id NOT IN (SELECT conversation_id FROM messages)",
        "CREATE FUNCTION bench_id(value uuid, copy integer) RETURNS uuid LANGUAGE sql IMMUTABLE "
        "AS $$ SELECT md5(value::text || '/' || copy)::uuid $$",
    ):
        connection.execute(statement, params if "%(lo)s" in statement else None)


def _write_paragraphs(connection: psycopg.Connection) -> None:
    """A pool of prose-like paragraphs (~1 KB, words drawn from a Zipf-like vocabulary, no two alike)."""
    rng = random.Random(13)
    syllables = ["ka", "lo", "mi", "ter", "an", "sul", "vo", "ri", "den", "po", "qua", "ne", "tis", "or", "ba", "el"]
    vocabulary = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(6000)})
    rng.shuffle(vocabulary)
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    connection.execute("CREATE TABLE bench_paragraphs (id integer PRIMARY KEY, text text NOT NULL)")
    with connection.cursor() as cursor, cursor.copy("COPY bench_paragraphs (id, text) FROM STDIN") as copy:
        for number in range(PARAGRAPHS):
            words: list[str] = []
            length = 0
            while length < rng.randint(900, 1150):
                sentence = rng.choices(vocabulary, weights, k=rng.randint(6, 18))
                text = " ".join(sentence).capitalize() + rng.choice((". ", "? ", ", and ", "; ", ".\n"))
                words.append(text)
                length += len(text)
            copy.write_row((number, "".join(words)))


def _copy_template(connection: psycopg.Connection, table: str, workload: Workload) -> None:
    columns = [
        (row[0], row[1])
        for row in connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            [table],
        )
    ]
    selects = []
    for name, data_type in columns:
        column = sql.Identifier("t", name)
        if name in ID_COLUMNS and data_type == "uuid":
            selects.append(sql.SQL("bench_id({}, k)").format(column))
        elif data_type == "timestamp without time zone":
            selects.append(sql.SQL("{} + make_interval(days => k / {})").format(column, sql.Literal(workload.copies)))
        elif table == "workflow_node_executions" and name == "process_data":
            selects.append(sql.SQL(_PROCESS_DATA))
        else:
            selects.append(column)
    statement = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM generate_series(0, {}) k CROSS JOIN {} t").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns),
        sql.SQL(", ").join(selects),
        sql.Literal(workload.days * workload.copies - 1),
        sql.Identifier(f"bench_template_{table}"),
    )
    connection.execute(statement)


# A leaf node's process_data as Dify writes it: model_mode and prompts first, then the template's keys
# (usage, finish_reason, model_provider, model_name). Its prompt is 3-11 pool paragraphs picked by hashes
# of the row's new id, so no two rows and no two paragraphs of a row are alike.
_PROCESS_DATA = f"""
CASE WHEN t.node_type IN ({", ".join(f"'{kind}'" for kind in LEAF_NODE_TYPES)})
          AND t.process_data LIKE '{{%' AND length(t.process_data) > 2 THEN
    '{{"model_mode": "chat", "prompts": [{{"role": "system", "text": ' || to_json((
        SELECT string_agg(p.text, E'\\n' ORDER BY part)
        FROM generate_series(1, 3 + abs(hashtext(bench_id(t.id, k)::text)) % 9) part
        JOIN bench_paragraphs p ON p.id = abs(hashtext(bench_id(t.id, k)::text || '/' || part)) % {PARAGRAPHS}
    ))::text || ', "files": []}}], ' || substr(t.process_data, 2)
ELSE t.process_data END
"""


def size_report(url: str) -> dict[str, float]:
    """How the generated days' leaf nodes' process_data is stored (the template's earlier day is the simulator's):
    p50 logical size, bytes on disk vs logical, share out of line."""
    since = window(DAY)[0].astimezone(UTC).replace(tzinfo=None)
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY octet_length(process_data)), "
            "sum(pg_column_size(process_data)), sum(octet_length(process_data)), "
            "count(*) FILTER (WHERE pg_column_toast_chunk_id(process_data) IS NOT NULL), "
            "(SELECT setting FROM pg_settings WHERE name = 'default_toast_compression'), "
            "(SELECT pg_database_size(current_database())), current_setting('server_version') "
            "FROM workflow_node_executions WHERE node_type = ANY(%s) AND process_data IS NOT NULL AND created_at >= %s",
            [list(LEAF_NODE_TYPES), since],
        ).fetchone()
    assert row is not None
    return {
        "leaf_nodes": row[0],
        "p50_bytes": row[1],
        "stored_bytes": row[2],
        "logical_bytes": row[3],
        "out_of_line": row[4],
        "compression": row[5],
        "database_bytes": row[6],
        "server_version": row[7],
    }
