"""DuckDB-backed DetailCache: conversation details persist across runs, so each is read once ever."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from dify_meter.core.bulk_insert import insert_rows
from dify_meter.core.store import DuckDBStore, transaction
from dify_meter.sources.console.details import ConversationDetail

COLUMNS = ("conversation_id", "app_id", "provider", "model", "detail_updated_at", "read_at", "completion_message")


class DuckDBDetailCache:
    def __init__(self, store: DuckDBStore) -> None:
        self.store = store

    def get_details(self, conversation_ids: Iterable[str]) -> dict[str, ConversationDetail]:
        ids = list(dict.fromkeys(conversation_ids))
        if not ids:
            return {}
        with self.store.connect() as conn:
            rows = conn.execute(
                "SELECT conversation_id, app_id, provider, model, detail_updated_at, read_at, completion_message "
                "FROM dify_conversation_details WHERE conversation_id IN (SELECT unnest(?))",
                [ids],
            ).fetchall()
        return {
            row[0]: ConversationDetail(
                conversation_id=row[0],
                app_id=row[1],
                provider=row[2],
                model=row[3],
                detail_updated_at=row[4],
                read_at=row[5],
                completion_message=json.loads(row[6]) if row[6] is not None else None,
            )
            for row in rows
        }

    def put_details(self, details: Sequence[ConversationDetail]) -> None:
        if not details:
            return
        rows = [
            (
                d.conversation_id,
                d.app_id,
                d.provider,
                d.model,
                d.detail_updated_at,
                d.read_at,
                json.dumps(d.completion_message) if d.completion_message is not None else None,
            )
            for d in details
        ]
        # One columnar statement: executemany runs row by row, and this sits on the fetch's critical path.
        with self.store.connect() as conn, transaction(conn):
            insert_rows(conn, "dify_conversation_details", COLUMNS, rows, replace=True)
