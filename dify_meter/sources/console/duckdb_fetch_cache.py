"""DuckDB-backed FetchCache (dify_meter/sources/console/caches.py): ended runs' node usage and conversations' messages
persist across fetches. Each call is one short connection; the fetch calls it between Dify reads."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC

from dify_meter.core.bulk_insert import insert_rows
from dify_meter.core.store import DuckDBStore, transaction
from dify_meter.sources.console.caches import ConversationMessages, FinishedRun
from dify_meter.sources.console.usage_facts import MessageUsage, NodeUsage

_NODE_COLUMNS = (
    "workflow_run_id",
    "position",
    "node_execution_id",
    "node_type",
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "price",
    "currency",
    "reported_tokens",
)
_MESSAGE_COLUMNS = (
    "conversation_id",
    "message_id",
    "created_at",
    "input_tokens",
    "output_tokens",
    "price",
    "currency",
    "workflow_run_id",
)


class DuckDBFetchCache:
    def __init__(self, store: DuckDBStore) -> None:
        self.store = store

    # --- ended workflow runs ------------------------------------------------------------------------

    def get_runs(self, workflow_run_ids: Iterable[str]) -> dict[str, FinishedRun]:
        ids = list(dict.fromkeys(workflow_run_ids))
        if not ids:
            return {}
        with self.store.connect() as conn:
            runs = conn.execute(
                "SELECT workflow_run_id, app_id, status FROM dify_finished_runs "
                "WHERE workflow_run_id IN (SELECT unnest(?))",
                [ids],
            ).fetchall()
            node_rows = conn.execute(
                f"SELECT {', '.join(_NODE_COLUMNS)} FROM dify_finished_run_nodes "
                "WHERE workflow_run_id IN (SELECT unnest(?)) ORDER BY workflow_run_id, position",
                [ids],
            ).fetchall()
        nodes: defaultdict[str, list[NodeUsage]] = defaultdict(list)
        for run_id, _position, *fields in node_rows:
            nodes[run_id].append(NodeUsage(*fields))
        return {run_id: FinishedRun(app_id, run_id, status, tuple(nodes[run_id])) for run_id, app_id, status in runs}

    def put_runs(self, runs: Sequence[FinishedRun]) -> None:
        if not runs:
            return
        ids = [run.workflow_run_id for run in runs]
        node_rows = [
            (
                run.workflow_run_id,
                position,
                node.node_execution_id,
                node.node_type,
                node.provider,
                node.model,
                node.input_tokens,
                node.output_tokens,
                node.price,
                node.currency,
                node.reported_tokens,
            )
            for run in runs
            for position, node in enumerate(run.nodes)
        ]
        with self.store.connect() as conn, transaction(conn):
            conn.execute("DELETE FROM dify_finished_runs WHERE workflow_run_id IN (SELECT unnest(?))", [ids])
            conn.execute("DELETE FROM dify_finished_run_nodes WHERE workflow_run_id IN (SELECT unnest(?))", [ids])
            insert_rows(
                conn,
                "dify_finished_runs",
                ("workflow_run_id", "app_id", "status"),
                [(run.workflow_run_id, run.app_id, run.status) for run in runs],
            )
            insert_rows(conn, "dify_finished_run_nodes", _NODE_COLUMNS, node_rows)

    # --- conversations' messages --------------------------------------------------------------------

    def get_conversations(self, conversation_ids: Iterable[str]) -> dict[str, ConversationMessages]:
        ids = list(dict.fromkeys(conversation_ids))
        if not ids:
            return {}
        with self.store.connect() as conn:
            reads = conn.execute(
                "SELECT conversation_id, app_id, listed_updated_at, message_count FROM dify_conversation_reads "
                "WHERE conversation_id IN (SELECT unnest(?))",
                [ids],
            ).fetchall()
            message_rows = conn.execute(
                f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM dify_conversation_messages "
                "WHERE conversation_id IN (SELECT unnest(?)) ORDER BY conversation_id, created_at, message_id",
                [ids],
            ).fetchall()
        messages: defaultdict[str, list[MessageUsage]] = defaultdict(list)
        for conversation_id, message_id, created_at, *fields in message_rows:
            messages[conversation_id].append(
                MessageUsage(message_id, conversation_id, created_at.astimezone(UTC), *fields)
            )
        return {
            conversation_id: ConversationMessages(
                app_id, conversation_id, listed_updated_at.astimezone(UTC), count, tuple(messages[conversation_id])
            )
            for conversation_id, app_id, listed_updated_at, count in reads
        }

    def put_conversations(self, conversations: Sequence[ConversationMessages]) -> None:
        if not conversations:
            return
        ids = [conversation.conversation_id for conversation in conversations]
        message_rows = [
            (
                m.conversation_id,
                m.message_id,
                m.created_at,
                m.input_tokens,
                m.output_tokens,
                m.price,
                m.currency,
                m.workflow_run_id,
            )
            for conversation in conversations
            for m in conversation.messages
        ]
        with self.store.connect() as conn, transaction(conn):
            conn.execute("DELETE FROM dify_conversation_reads WHERE conversation_id IN (SELECT unnest(?))", [ids])
            conn.execute("DELETE FROM dify_conversation_messages WHERE conversation_id IN (SELECT unnest(?))", [ids])
            insert_rows(
                conn,
                "dify_conversation_reads",
                ("conversation_id", "app_id", "listed_updated_at", "message_count"),
                [(c.conversation_id, c.app_id, c.listed_updated_at, c.message_count) for c in conversations],
            )
            insert_rows(conn, "dify_conversation_messages", _MESSAGE_COLUMNS, message_rows)
