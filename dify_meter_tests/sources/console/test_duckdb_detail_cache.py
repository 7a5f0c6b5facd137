"""The conversation-detail cache in DuckDB: details round-trip exactly, many at once, a second put replaces."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from dify_meter.core.store import DuckDBStore
from dify_meter.sources.console.details import ConversationDetail
from dify_meter.sources.console.duckdb_detail_cache import DuckDBDetailCache


def test_detail_cache_round_trip(tmp_path):
    cache = DuckDBDetailCache(DuckDBStore(tmp_path / "m.duckdb"))
    detail = ConversationDetail(
        app_id="app-1",
        conversation_id="c1",
        provider="openai",
        model="gpt-4o-mini",
        detail_updated_at=datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC),
        read_at=datetime(2026, 11, 28, 1, 2, 4, tzinfo=UTC),
        completion_message={"id": "m1", "message_tokens": 3},
    )
    cache.put_details([detail])
    assert cache.get_details(["c1", "c2"]) == {"c1": detail}
    assert cache.get_details([]) == {}


def test_detail_cache_stores_many_at_once_and_a_second_put_replaces(tmp_path):
    cache = DuckDBDetailCache(DuckDBStore(tmp_path / "m.duckdb"))
    read_at = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    details = [
        ConversationDetail(
            app_id="app-1",
            conversation_id=f"c{i}",
            provider=None if i % 3 else "openai",
            model=f"m{i}",
            detail_updated_at=None if i % 2 else read_at,
            read_at=read_at,
            completion_message=None if i % 2 else {"id": f"msg{i}"},
        )
        for i in range(50)
    ]
    cache.put_details(details)
    cache.put_details([dataclasses.replace(details[0], model="changed")])
    stored = cache.get_details(f"c{i}" for i in range(50))
    assert stored == {d.conversation_id: d for d in [dataclasses.replace(details[0], model="changed"), *details[1:]]}
