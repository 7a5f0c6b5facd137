"""Phase 1 of the extraction: what each app lists for a window, by the dating rules of
docs/usage-semantics.md ("Days")."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.dify_versions import lists_agent_apps_apart
from dify_meter.sources.console.errors import DifyHTTPError
from dify_meter.sources.console.models import App, ChatConversation, CompletionConversation, WorkflowAppLog
from dify_meter.sources.console.moving_list import read_moving_list
from dify_meter.sources.console.windows import Window, account_end, account_start, iso_utc_ceil, iso_utc_floor

# A completion conversation and its message are written in two transactions: list a minute earlier
# so that a message inside the window whose conversation row is dated just before it is not lost.
COMPLETION_LIST_MARGIN = timedelta(minutes=1)


def apps(client: DifyClient) -> list[App]:
    """Every app once, even if one is created or deleted while the list is read; from 1.16 the agent apps too,
    which the default list leaves out (only those with an active Agent: Dify lists no others)."""
    listed = read_moving_list(client.iter_app_pages, what="GET /apps", sort_key=None, reorders=False)
    if not lists_agent_apps_apart(client.dify_version):
        return listed
    try:
        agents = read_moving_list(
            lambda: client.iter_app_pages(mode="agent"), what="GET /apps?mode=agent", sort_key=None, reorders=False
        )
    except DifyHTTPError as error:
        if error.status == 400:  # a Dify before 1.16 that sent no X-Version: no such mode, so no agent apps
            return listed
        raise
    known = {app.id for app in listed}
    return listed + [app for app in agents if app.id not in known]


def chat_conversations(client: DifyClient, app: App, window: Window, account_tz: ZoneInfo) -> list[ChatConversation]:
    """Conversations updated since the window start (no upper bound: they span days), created before its end.

    The list is sorted by `-updated_at`: a conversation that gets a message (or is opened in Dify) while
    we page jumps to the top, possibly from a page not read yet to one already read."""
    start = account_start(window.start, account_tz)
    listed = read_moving_list(
        lambda: client.iter_chat_conversation_pages(app, start=start),
        what=f"GET /apps/{{id}}/chat-conversations for {app.label}",
        sort_key=lambda conversation: conversation.updated_at,
        reorders=True,
    )
    return [conversation for conversation in listed if conversation.created_at < window.end]


def completion_conversations(
    client: DifyClient, app: App, window: Window, account_tz: ZoneInfo
) -> list[CompletionConversation]:
    """Conversations created in the window (Dify filters `created_at`; bounds widened, then exact)."""
    listed_from = window.start - COMPLETION_LIST_MARGIN
    start, end = account_start(listed_from, account_tz), account_end(window.end, account_tz)
    listed = read_moving_list(
        lambda: client.iter_completion_conversation_pages(app, start=start, end=end),
        what=f"GET /apps/{{id}}/completion-conversations for {app.label}",
        sort_key=lambda conversation: conversation.created_at,
        reorders=False,
    )
    return [conversation for conversation in listed if listed_from <= conversation.created_at < window.end]


def workflow_logs(client: DifyClient, app: App, window: Window, max_run_seconds: int) -> list[WorkflowAppLog]:
    """One log per run started in the window. Logs are dated by the run's end: read past the window's end
    by max_run_seconds."""
    after = iso_utc_floor(window.start)
    before = iso_utc_ceil(window.end + timedelta(seconds=max_run_seconds))
    listed = read_moving_list(
        lambda: client.iter_workflow_app_log_pages(app, created_at_after=after, created_at_before=before),
        what=f"GET /apps/{{id}}/workflow-app-logs for {app.label}",
        sort_key=lambda log: log.created_at,
        reorders=False,
    )
    runs: dict[str, WorkflowAppLog] = {}
    for log in listed:
        if window.contains(log.workflow_run.created_at):
            runs.setdefault(log.workflow_run.id, log)
    return list(runs.values())
