"""Phase 1 of the extraction: what each app lists for a window, by the dating rules of
shared/specs/usage-semantics.md ("Days")."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dify_meter.dify.client import DifyClient
from dify_meter.dify.models import App, ChatConversation, CompletionConversation, WorkflowAppLog
from dify_meter.dify.windows import Window, account_end, account_start, iso_utc_ceil, iso_utc_floor

# A completion conversation and its message are written in two transactions: list a minute earlier
# so that a message inside the window whose conversation row is dated just before it is not lost.
COMPLETION_LIST_MARGIN = timedelta(minutes=1)


def chat_conversations(client: DifyClient, app: App, window: Window, account_tz: ZoneInfo) -> list[ChatConversation]:
    """Conversations updated since the window start (no upper bound: they span days), created before its end."""
    start = account_start(window.start, account_tz)
    seen: dict[str, ChatConversation] = {}
    newest_first_seen: datetime | None = None
    page_count = 0
    for page in client.iter_chat_conversation_pages(app, start=start):
        page_count += 1
        if newest_first_seen is None and page.data:
            newest_first_seen = max(conversation.updated_at for conversation in page.data)
        seen.update((conversation.id, conversation) for conversation in page.data)
    if page_count > 1 and newest_first_seen is not None:
        # A conversation updated while we paged (a new message, someone opening it in Dify) jumps to
        # the top, possibly from a page not read yet to one already read. Such jumps carry an
        # updated_at at least as new as the newest one seen on the first page: re-read the top.
        for page in client.iter_chat_conversation_pages(app, start=start):
            seen.update((conversation.id, conversation) for conversation in page.data)
            if not page.data or page.data[-1].updated_at < newest_first_seen:
                break
    return [conversation for conversation in seen.values() if conversation.created_at < window.end]


def completion_conversations(client: DifyClient, app: App, window: Window,
                             account_tz: ZoneInfo) -> list[CompletionConversation]:
    """Conversations created in the window (Dify filters `created_at`; bounds widened, then exact)."""
    listed_from = window.start - COMPLETION_LIST_MARGIN
    seen: dict[str, CompletionConversation] = {}
    pages = client.iter_completion_conversation_pages(app, start=account_start(listed_from, account_tz),
                                                      end=account_end(window.end, account_tz))
    for page in pages:
        seen.update((conversation.id, conversation) for conversation in page.data
                    if listed_from <= conversation.created_at < window.end)
    return list(seen.values())


def workflow_logs(client: DifyClient, app: App, window: Window, max_run_seconds: int) -> list[WorkflowAppLog]:
    """One log per run started in the window. Logs are dated by the run's end: read past the window's end
    by max_run_seconds."""
    after = iso_utc_floor(window.start)
    before = iso_utc_ceil(window.end + timedelta(seconds=max_run_seconds))
    runs: dict[str, WorkflowAppLog] = {}
    for page in client.iter_workflow_app_log_pages(app, created_at_after=after, created_at_before=before):
        for log in page.data:
            if window.contains(log.workflow_run.created_at):
                runs.setdefault(log.workflow_run.id, log)
    return list(runs.values())
