"""What a fetch may reuse from earlier fetches instead of asking Dify again, and when.

- A workflow run that had ended when it was read (`FINAL_RUN_STATUSES`) never changes: its node usage
  is kept and its node executions are never read again. A run still going (`running`, or `paused` in
  Dify versions that pause for human input) is read again every time until it has ended.
  Workflow runs tell their status in the app log. Advanced-chat runs tell it only through their
  conversation's `status_count`, which counts runs that succeeded, failed or partially succeeded:
  when it counts every run of the conversation, all of them have ended. (A stopped run is in none of
  the counts: the runs of a conversation with one are read every time.)
- A chat conversation gets new messages only with a new `updated_at` (Dify sets it when a message
  starts) and a new `message_count`. Its messages, all of them (a later fetch may have another window),
  are kept with the `updated_at` and `message_count` its list item showed when they were read. A
  conversation detail read (once ever, see `details`) also moves `updated_at`, to the time of the read:
  the detail cache remembers that time, so the bump is not mistaken for a new message.
- A message is written when it starts and gets its tokens when it ends. Messages are kept only once
  all of them are older than `max_run_seconds` (DIFY_MAX_RUN_SECONDS, the longest a run may take), so a
  message still being answered is never kept with its tokens missing.

The DuckDB implementation lives in `dify_meter.sources.console.duckdb_fetch_cache`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from dify_meter.sources.console.details import ConversationDetail
from dify_meter.sources.console.models import ChatConversation
from dify_meter.sources.console.usage_facts import MessageUsage, NodeUsage

# WorkflowExecutionStatus values of a run that has ended; everything else may still change.
FINAL_RUN_STATUSES = frozenset({"succeeded", "failed", "stopped", "partial-succeeded"})
ADVANCED_CHAT_ENDED = "ended"  # status_count tells that an advanced-chat run ended, not how


@dataclass(frozen=True, slots=True)
class FinishedRun:
    app_id: str
    workflow_run_id: str
    status: str  # the app log's, one of FINAL_RUN_STATUSES; ADVANCED_CHAT_ENDED for advanced-chat runs
    nodes: tuple[NodeUsage, ...]


@dataclass(frozen=True, slots=True)
class ConversationMessages:
    """Every message of a conversation as read, and what its list item showed when they were read."""

    app_id: str
    conversation_id: str
    listed_updated_at: datetime
    message_count: int
    messages: tuple[MessageUsage, ...]


class FetchCache(Protocol):
    def get_runs(self, workflow_run_ids: Iterable[str]) -> dict[str, FinishedRun]: ...

    def put_runs(self, runs: Sequence[FinishedRun]) -> None: ...

    def get_conversations(self, conversation_ids: Iterable[str]) -> dict[str, ConversationMessages]: ...

    def put_conversations(self, conversations: Sequence[ConversationMessages]) -> None: ...


class NoFetchCache:
    """Remembers nothing: every fetch reads everything from Dify."""

    def get_runs(self, workflow_run_ids: Iterable[str]) -> dict[str, FinishedRun]:
        return {}

    def put_runs(self, runs: Sequence[FinishedRun]) -> None:
        return None

    def get_conversations(self, conversation_ids: Iterable[str]) -> dict[str, ConversationMessages]:
        return {}

    def put_conversations(self, conversations: Sequence[ConversationMessages]) -> None:
        return None


def is_unchanged(cached: ConversationMessages, listed: ChatConversation, detail: ConversationDetail | None) -> bool:
    """Whether the cached messages are still all the conversation has, by its list item now."""
    if listed.message_count != cached.message_count:
        return False
    bumped_by_our_read = detail is not None and listed.updated_at == detail.detail_updated_at
    return listed.updated_at == cached.listed_updated_at or bumped_by_our_read


def is_settled(
    messages: Sequence[MessageUsage], listed: ChatConversation, *, read_at: datetime, max_run_seconds: int
) -> bool:
    """Whether every message was old enough, when read, to have its final tokens."""
    newest = max((message.created_at for message in messages), default=listed.created_at)
    return newest <= read_at - timedelta(seconds=max_run_seconds)


def advanced_chat_runs_ended(listed: ChatConversation, messages: Sequence[MessageUsage]) -> bool:
    """Whether the list item's status_count counts every run behind these messages as ended."""
    runs = sum(1 for message in messages if message.workflow_run_id)
    return listed.status_count is not None and runs > 0 and listed.status_count.ended == runs
