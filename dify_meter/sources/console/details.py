"""Conversation details: read once ever from Dify (the read has a side effect), then kept.

The extraction asks a `DetailCache` before reading a detail and hands it every detail it reads,
right after reading, so a failure later in the run never causes a second read. The DuckDB
implementation lives in `dify_meter.core.store`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    app_id: str
    conversation_id: str
    provider: str | None  # model_config.model.provider of the conversation's own config
    model: str | None  # model_config.model.name
    detail_updated_at: datetime | None  # the updated_at the detail returned (chat modes; moved by the read)
    read_at: datetime  # when the exporter read it (UTC)
    completion_message: dict[str, Any] | None  # the detail's `message` (completion apps: the only token source)


class DetailCache(Protocol):
    def get_details(self, conversation_ids: Iterable[str]) -> dict[str, ConversationDetail]: ...

    def put_details(self, details: Sequence[ConversationDetail]) -> None: ...
