"""Usage events of a time window, read from Dify's console API (shared/specs/usage-semantics.md).

One call reads Dify once for the whole window, however many days it spans, in four phases:
1. list every app's conversations (chat modes, completion) or workflow app logs;
2. read the messages of the chat conversations active in the window;
3. read the node executions of the workflow runs behind advanced-chat messages and workflow logs;
4. read the conversation details still unknown to the detail cache, only now: a detail read moves
   the conversation's `updated_at` and would reorder the lists of phase 1 and 2.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dify_meter.dify.builders import (
    UNKNOWN,
    RunContext,
    app_log_user,
    conversation_user,
    message_event,
    node_events,
)
from dify_meter.dify.client import DifyClient
from dify_meter.dify.details import ConversationDetail, DetailCache
from dify_meter.dify.errors import DifyNotFoundError
from dify_meter.dify.listing import apps as list_apps
from dify_meter.dify.listing import chat_conversations, completion_conversations, workflow_logs
from dify_meter.dify.messages import read_conversation_messages
from dify_meter.dify.models import (
    App,
    ChatConversation,
    CompletionConversation,
    Message,
    ModelRef,
    NodeExecution,
    WorkflowAppLog,
    parse_body,
)
from dify_meter.dify.parallel import parallel_each, parallel_map
from dify_meter.dify.windows import Window
from dify_meter.usage.event import UsageEvent

DetailReads = Literal["auto", "never"]

CHAT_MODES = frozenset({"chat", "agent-chat"})  # model from the conversation detail
ADVANCED_CHAT = "advanced-chat"
COMPLETION = "completion"
WORKFLOW = "workflow"
SUPPORTED_MODES = CHAT_MODES | {ADVANCED_CHAT, COMPLETION, WORKFLOW}

DETAIL_BATCH_SIZE = 20


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SkippedApp:
    app_id: str
    app_name: str
    mode: str
    reason: str


@dataclass(slots=True)
class FetchResult:
    events: list[UsageEvent]
    apps_read: int  # apps whose usage was read (skipped apps excluded)
    requests: int  # HTTP requests sent to Dify by this call
    detail_reads: int  # conversation details read from Dify by this call (each marks one read)
    skipped_apps: list[SkippedApp] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    retries: int = 0  # requests sent again after a transient failure (429, 5xx, network)
    lowest_concurrency: int = 0  # the lowest in-flight limit Dify's pushback (429, 503) brought the client to
    dify_version: str | None = None  # X-Version of Dify's answers


def fetch_usage_events(client: DifyClient, window_start: datetime, window_end: datetime, *, timezone: str,
                       detail_cache: DetailCache, detail_reads: DetailReads = "auto",
                       max_run_seconds: int = 3600, now: Callable[[], datetime] = utc_now) -> FetchResult:
    """Every usage event whose time lies in [window_start, window_end), dated in `timezone`."""
    try:
        usage_tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone must be an IANA name such as UTC or Europe/Berlin, got {timezone!r}") from exc
    if detail_reads not in ("auto", "never"):
        raise ValueError(f"detail_reads must be 'auto' or 'never', got {detail_reads!r}")
    if max_run_seconds < 0:
        raise ValueError(f"max_run_seconds must be >= 0, got {max_run_seconds}")
    extraction = _Extraction(client, Window(window_start, window_end), usage_tz, detail_cache, detail_reads,
                             max_run_seconds, now)
    return extraction.run()


@dataclass(slots=True)
class _Listing:
    """Phase 1 of one app."""

    app: App
    chats: list[ChatConversation] = field(default_factory=list)
    completions: list[CompletionConversation] = field(default_factory=list)
    logs: list[WorkflowAppLog] = field(default_factory=list)
    current_model: ModelRef | None = None  # DIFY_DETAIL_READS=never: the approximate chat model


@dataclass(frozen=True, slots=True)
class _ActiveConversation:
    """Phase 2: a chat conversation and its messages inside the window."""

    app: App
    conversation: ChatConversation
    messages: list[Message]


@dataclass(frozen=True, slots=True)
class _DetailJob:
    app: App
    conversation_id: str
    completion: bool


class _Extraction:
    def __init__(self, client: DifyClient, window: Window, usage_tz: ZoneInfo, detail_cache: DetailCache,
                 detail_reads: DetailReads, max_run_seconds: int, now: Callable[[], datetime]) -> None:
        self.client = client
        self.window = window
        self.usage_tz = usage_tz
        self.detail_cache = detail_cache
        self.detail_reads = detail_reads
        self.max_run_seconds = max_run_seconds
        self.now = now
        self.account_tz = ZoneInfo("UTC")
        self.skipped: list[SkippedApp] = []
        self.warnings: list[str] = []
        self.gone: dict[str, str] = {}  # app id -> why the app could not be read
        self._lock = threading.Lock()

    # --- bookkeeping shared by the worker threads ---------------------------------------------------

    def _warn(self, message: str) -> None:
        with self._lock:
            self.warnings.append(message)

    def _is_gone(self, app: App) -> bool:
        with self._lock:
            return app.id in self.gone

    def _not_found(self, app: App, error: DifyNotFoundError, what: str) -> None:
        """A 404: the app vanished (skip all of it) or one conversation/run did (skip that one)."""
        if error.app_gone:
            with self._lock:
                self.gone.setdefault(app.id, f"Dify answered 404 ({error.code}) while reading it: deleted "
                                             "or no longer normal")
            self._warn(f"skipped: {error}")
        else:
            self._warn(f"{app.label}: {what} skipped: {error}")

    def _max_workers(self) -> int:
        return self.client.max_concurrency

    # --- the run ------------------------------------------------------------------------------------

    def run(self) -> FetchResult:
        requests_before = self.client.request_count
        details_before = self.client.detail_read_count
        retries_before = self.client.retry_count

        self.account_tz = ZoneInfo(self.client.account_profile().timezone)
        apps = [app for app in list_apps(self.client) if self._is_readable(app)]
        listings = [listing for listing in parallel_map(self._list_app, apps, max_workers=self._max_workers())
                    if listing is not None]

        conversations = [(listing.app, conversation) for listing in listings for conversation in listing.chats]
        active = [item for item in parallel_map(self._read_messages, conversations,
                                                max_workers=self._max_workers()) if item is not None]

        runs = self._runs(active, listings)
        run_nodes = [item for item in parallel_map(self._read_nodes, runs, max_workers=self._max_workers())
                     if item is not None]

        details = self._details(active, listings) if self.detail_reads == "auto" else {}
        events = self._events(listings, active, run_nodes, details)
        for app in apps:
            if app.id in self.gone:
                self.skipped.append(SkippedApp(app.id, app.name, app.mode, self.gone[app.id]))
        return FetchResult(
            events=sorted(events, key=lambda event: (event.occurred_at, event.event_id)),
            apps_read=len(apps) - len(self.gone),
            requests=self.client.request_count - requests_before,
            detail_reads=self.client.detail_read_count - details_before,
            skipped_apps=self.skipped,
            warnings=self.warnings,
            retries=self.client.retry_count - retries_before,
            lowest_concurrency=self.client.concurrency.lowest_limit,
            dify_version=self.client.dify_version,
        )

    def _is_readable(self, app: App) -> bool:
        if app.mode not in SUPPORTED_MODES:
            self.skipped.append(SkippedApp(app.id, app.name, app.mode,
                                           f"mode {app.mode!r} makes no LLM calls that Dify reports as usage"))
            return False
        if app.mode == COMPLETION and self.detail_reads == "never":
            self.skipped.append(SkippedApp(
                app.id, app.name, app.mode,
                "DIFY_DETAIL_READS=never: a completion message's tokens are only in its conversation detail",
            ))
            return False
        return True

    # --- phase 1: lists -----------------------------------------------------------------------------

    def _list_app(self, app: App) -> _Listing | None:
        listing = _Listing(app)
        try:
            if app.mode == COMPLETION:
                listing.completions = completion_conversations(self.client, app, self.window, self.account_tz)
            elif app.mode == WORKFLOW:
                listing.logs = workflow_logs(self.client, app, self.window, self.max_run_seconds)
            else:
                listing.chats = chat_conversations(self.client, app, self.window, self.account_tz)
                if app.mode in CHAT_MODES and self.detail_reads == "never":
                    listing.current_model = app.current_model or self.client.app_detail(app).current_model
        except DifyNotFoundError as error:
            self._not_found(app, error, "listing")
            return None
        return listing

    # --- phase 2: messages --------------------------------------------------------------------------

    def _read_messages(self, item: tuple[App, ChatConversation]) -> _ActiveConversation | None:
        app, conversation = item
        if self._is_gone(app):
            return None
        try:
            read = read_conversation_messages(self.client, app, conversation)
        except DifyNotFoundError as error:
            self._not_found(app, error, f"conversation {conversation.id}")
            return None
        if read.shortfall:
            self._warn(f"{app.label}: conversation {conversation.id} lists {read.expected} messages but only "
                       f"{len(read.messages)} could be read (first_id paging lost same-second messages)")
        in_window = [message for message in read.messages if self.window.contains(message.created_at)]
        return _ActiveConversation(app, conversation, in_window) if in_window else None

    # --- phase 3: node executions -------------------------------------------------------------------

    def _runs(self, active: list[_ActiveConversation], listings: list[_Listing]) -> list[RunContext]:
        runs = [
            RunContext(item.app, message.workflow_run_id, message.created_at, conversation_user(item.conversation),
                       item.conversation.id, message.id)
            for item in active if item.app.mode == ADVANCED_CHAT
            for message in item.messages if message.workflow_run_id
        ]
        runs += [
            RunContext(listing.app, log.workflow_run.id, log.workflow_run.created_at, app_log_user(log), None, None)
            for listing in listings for log in listing.logs
        ]
        return runs

    def _read_nodes(self, run: RunContext) -> tuple[RunContext, list[NodeExecution]] | None:
        if self._is_gone(run.app):
            return None
        try:
            return run, self.client.node_executions(run.app, run.workflow_run_id)
        except DifyNotFoundError as error:
            self._not_found(run.app, error, f"workflow run {run.workflow_run_id}")
            return None

    # --- phase 4: conversation details, once ever -----------------------------------------------------

    def _details(self, active: list[_ActiveConversation],
                 listings: list[_Listing]) -> dict[str, ConversationDetail]:
        """The detail of every conversation that needs one: from the cache, else read now and cached."""
        jobs = [_DetailJob(item.app, item.conversation.id, completion=False)
                for item in active if item.app.mode in CHAT_MODES]
        jobs += [_DetailJob(listing.app, conversation.id, completion=True)
                 for listing in listings for conversation in listing.completions]
        details = self.detail_cache.get_details([job.conversation_id for job in jobs]) if jobs else {}
        missing = [job for job in jobs if job.conversation_id not in details]
        return {**details, **self._read_details(missing)}

    def _read_details(self, jobs: list[_DetailJob]) -> dict[str, ConversationDetail]:
        read: dict[str, ConversationDetail] = {}
        batch: list[ConversationDetail] = []

        def keep(detail: ConversationDetail | None) -> None:
            if detail is None:
                return
            read[detail.conversation_id] = detail
            batch.append(detail)
            if len(batch) >= DETAIL_BATCH_SIZE:
                self.detail_cache.put_details(batch.copy())
                batch.clear()

        try:
            parallel_each(self._read_detail, jobs, max_workers=self._max_workers(), on_result=keep)
        finally:
            if batch:  # also after a failure: these reads happened, they must never happen again
                self.detail_cache.put_details(batch)
        return read

    def _read_detail(self, job: _DetailJob) -> ConversationDetail | None:
        if self._is_gone(job.app):
            return None
        try:
            if job.completion:
                completion = self.client.completion_conversation_detail(job.app, job.conversation_id)
                model = completion.config.model if completion.config else None
                return ConversationDetail(job.app.id, job.conversation_id, model.provider if model else None,
                                          model.name if model else None, None, self.now(), completion.message)
            chat = self.client.chat_conversation_detail(job.app, job.conversation_id)
            model = chat.config.model if chat.config else None
            return ConversationDetail(job.app.id, job.conversation_id, model.provider if model else None,
                                      model.name if model else None, chat.updated_at, self.now(), None)
        except DifyNotFoundError as error:
            self._not_found(job.app, error, f"conversation {job.conversation_id} detail")
            return None

    # --- events -------------------------------------------------------------------------------------

    def _events(self, listings: list[_Listing], active: list[_ActiveConversation],
                run_nodes: list[tuple[RunContext, list[NodeExecution]]],
                details: dict[str, ConversationDetail]) -> list[UsageEvent]:
        current_models = {listing.app.id: listing.current_model for listing in listings}
        events: list[UsageEvent] = []
        for item in active:
            if item.app.mode in CHAT_MODES:
                events += self._chat_events(item, details, current_models.get(item.app.id))
        for listing in listings:
            for conversation in listing.completions:
                events += self._completion_events(listing.app, conversation, details)
        for run, nodes in run_nodes:
            events += node_events(run, nodes, timezone=self.usage_tz, warnings=self.warnings)
        unique = {event.event_id: event for event in events if event.app_id not in self.gone}
        return list(unique.values())

    def _chat_events(self, item: _ActiveConversation, details: dict[str, ConversationDetail],
                     current_model: ModelRef | None) -> Iterable[UsageEvent]:
        if self.detail_reads == "never":
            provider, model = (current_model.provider, current_model.name) if current_model else (UNKNOWN, UNKNOWN)
            if current_model is None:
                self.warnings.append(f"{item.app.label} has no current model; its messages count as 'unknown'")
            approximate = True
        else:
            detail = details.get(item.conversation.id)
            if detail is None:
                self.warnings.append(f"{item.app.label}: conversation {item.conversation.id} has no detail; "
                                     f"its {len(item.messages)} messages in the window are not counted")
                return []
            provider, model = detail.provider or UNKNOWN, detail.model or UNKNOWN
            if UNKNOWN in (provider, model):
                self.warnings.append(f"{item.app.label}: conversation {item.conversation.id} detail names no "
                                     "model; its messages count as 'unknown'")
            approximate = False
        user = conversation_user(item.conversation)
        return [message_event(item.app, message, user=user, provider=provider, model=model,
                              approximate=approximate, timezone=self.usage_tz) for message in item.messages]

    def _completion_events(self, app: App, conversation: CompletionConversation,
                           details: dict[str, ConversationDetail]) -> list[UsageEvent]:
        detail = details.get(conversation.id)
        if detail is None or detail.completion_message is None:
            if detail is not None:
                self.warnings.append(f"{app.label}: cached detail of completion conversation {conversation.id} "
                                     "has no message; not counted")
            return []
        message = parse_body(Message, detail.completion_message,
                             request=f"cached detail of completion conversation {conversation.id} of {app.label}")
        if not self.window.contains(message.created_at):
            return []
        return [message_event(app, message, user=conversation_user(conversation), provider=detail.provider or UNKNOWN,
                              model=detail.model or UNKNOWN, approximate=False, timezone=self.usage_tz)]
