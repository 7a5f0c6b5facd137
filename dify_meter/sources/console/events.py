"""Usage events of a time window, read from Dify's console API (docs/usage-semantics.md).

One call reads Dify once for the whole window, however many days it spans, in four phases:
1. list every app's conversations (chat modes, completion) or workflow app logs;
2. take the messages of the chat conversations, a chunk at a time: from the fetch cache when the list
   shows a conversation unchanged, else from Dify; the node executions of the advanced-chat runs of
   each chunk follow it;
   agent apps (1.16+) take every message from their Agent's logs instead (`agent_apps`; not cached);
3. take the node executions of the workflow runs of the app logs, from the cache for ended runs;
4. read the conversation details still unknown to the detail cache, only now: a detail read moves
   the conversation's `updated_at` (before 1.14) and would reorder the conversation lists while they are
   read. A chat or agent-chat conversation whose list item carries its own model (1.14+, decided per
   item, not per version) needs no detail at all.
Events go to the sink in batches as soon as they can be built (chat messages once their model is
known), so memory holds list items and chunks, never the whole window's events or responses.
`dify_meter.sources.console.caches` says what is reused and why it cannot differ from a fresh read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dify_meter.core.app_modes import (
    ADVANCED_CHAT,
    AGENT,
    COMPLETION,
    CONVERSATION_MODES,
    MESSAGE_MODES,
    NO_LLM_MODES,
    USAGE_MODES,
    WORKFLOW,
)
from dify_meter.core.event import UsageEvent
from dify_meter.core.skipped_app import SkippedApp
from dify_meter.core.source import EventSink
from dify_meter.sources.console.agent_apps import AgentModels, agent_conversation_messages, agent_models
from dify_meter.sources.console.builders import (
    UNKNOWN,
    RunContext,
    app_log_user,
    conversation_user,
    message_event,
    node_events,
)
from dify_meter.sources.console.caches import (
    ADVANCED_CHAT_ENDED,
    FINAL_RUN_STATUSES,
    ConversationMessages,
    FetchCache,
    FinishedRun,
    NoFetchCache,
    advanced_chat_runs_ended,
    is_settled,
    is_unchanged,
)
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.details import ConversationDetail, DetailCache
from dify_meter.sources.console.errors import DifyNotFoundError
from dify_meter.sources.console.listing import apps as list_apps
from dify_meter.sources.console.listing import chat_conversations, completion_conversations, workflow_logs
from dify_meter.sources.console.messages import read_conversation_messages
from dify_meter.sources.console.models import (
    App,
    ChatConversation,
    CompletionConversation,
    Message,
    ModelRef,
    WorkflowAppLog,
    parse_body,
)
from dify_meter.sources.console.parallel import parallel_each, parallel_map
from dify_meter.sources.console.sink import EventBatcher
from dify_meter.sources.console.usage_facts import MessageUsage, NodeUsage, node_usages
from dify_meter.sources.console.windows import Window

DetailReads = Literal["auto", "never"]

# Chat-like apps whose model is on the list item or the conversation detail; agent messages come from the Agent's logs.
CHAT_MODES = (CONVERSATION_MODES & MESSAGE_MODES) - {AGENT}

DETAIL_BATCH_SIZE = 20  # details handed to the detail cache together (a failure loses none already read)
EVENT_BATCH_SIZE = 5000  # events per sink write
CHUNK_SIZE = 1000  # conversations, runs or details looked up in (and written to) the caches together

Item = TypeVar("Item")


def utc_now() -> datetime:
    return datetime.now(UTC)


def chunks(items: Sequence[Item], size: int) -> Iterator[Sequence[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(slots=True)
class FetchResult:
    event_count: int  # usage events handed to the sink (those of apps that vanished mid-fetch excluded)
    apps_read: int  # apps whose usage was read (skipped apps excluded)
    requests: int  # HTTP requests sent to Dify by this call
    detail_reads: int  # conversation details read from Dify by this call (each marks one read)
    skipped_apps: list[SkippedApp] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    retries: int = 0  # requests sent again after a transient failure (429, 5xx, network)
    lowest_concurrency: int = 0  # the lowest in-flight limit Dify's pushback (429, 503) brought the client to
    dify_version: str | None = None  # X-Version of Dify's answers
    conversations_read: int = 0  # chat conversations whose messages were read from Dify
    conversations_cached: int = 0  # chat conversations whose messages came from the fetch cache
    runs_read: int = 0  # workflow runs whose node executions were read from Dify
    runs_cached: int = 0  # workflow runs whose node usage came from the fetch cache


def fetch_usage_events(
    client: DifyClient,
    window_start: datetime,
    window_end: datetime,
    *,
    timezone: str,
    detail_cache: DetailCache,
    sink: EventSink,
    fetch_cache: FetchCache | None = None,
    detail_reads: DetailReads = "auto",
    max_run_seconds: int = 3600,
    now: Callable[[], datetime] = utc_now,
    batch_size: int = EVENT_BATCH_SIZE,
) -> FetchResult:
    """Hand `sink` every usage event whose time lies in [window_start, window_end), dated in `timezone`.

    `fetch_cache` (None: none) spares reading what cannot have changed since an earlier fetch; `now` is
    the time messages are read at, which decides whether they are old enough to be cached."""
    try:
        usage_tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone must be an IANA name such as UTC or Europe/Berlin, got {timezone!r}") from exc
    if detail_reads not in ("auto", "never"):
        raise ValueError(f"detail_reads must be 'auto' or 'never', got {detail_reads!r}")
    if max_run_seconds < 0:
        raise ValueError(f"max_run_seconds must be >= 0, got {max_run_seconds}")
    extraction = _Extraction(
        client,
        Window(window_start, window_end),
        usage_tz,
        detail_cache,
        fetch_cache or NoFetchCache(),
        EventBatcher(sink, batch_size),
        detail_reads,
        max_run_seconds,
        now,
    )
    return extraction.run()


@dataclass(slots=True)
class _Listing:
    """Phase 1 of one app."""

    app: App
    chats: list[ChatConversation] = field(default_factory=list)
    completions: list[CompletionConversation] = field(default_factory=list)
    logs: list[WorkflowAppLog] = field(default_factory=list)
    current_model: ModelRef | None = None  # DIFY_DETAIL_READS=never: the approximate chat model
    agent_models: AgentModels | None = None  # mode agent: the Agent's models over time


@dataclass(frozen=True, slots=True)
class _Messages:
    """Phase 2: every message of a chat conversation, from Dify or the cache."""

    app: App
    conversation: ChatConversation
    messages: tuple[MessageUsage, ...]
    complete: bool  # as many messages as the conversation lists (first_id paging lost none)


@dataclass(frozen=True, slots=True)
class _DetailJob:
    """Phase 4: a conversation whose events wait for its detail."""

    app: App
    conversation: ChatConversation | CompletionConversation
    chat_messages: list[MessageUsage]  # a chat conversation's messages in the window; none for completion

    @property
    def completion(self) -> bool:
        return isinstance(self.conversation, CompletionConversation)


class _Extraction:
    def __init__(
        self,
        client: DifyClient,
        window: Window,
        usage_tz: ZoneInfo,
        detail_cache: DetailCache,
        fetch_cache: FetchCache,
        batcher: EventBatcher,
        detail_reads: DetailReads,
        max_run_seconds: int,
        now: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.window = window
        self.usage_tz = usage_tz
        self.detail_cache = detail_cache
        self.fetch_cache = fetch_cache
        self.batcher = batcher
        self.detail_reads = detail_reads
        self.max_run_seconds = max_run_seconds
        self.now = now
        self.account_tz = ZoneInfo("UTC")
        self.current_models: dict[str, ModelRef | None] = {}
        self.pending_details: list[_DetailJob] = []
        self.skipped: list[SkippedApp] = []
        self.warnings: list[str] = []
        self.gone: dict[str, str] = {}  # app id -> why the app could not be read
        self.result = FetchResult(event_count=0, apps_read=0, requests=0, detail_reads=0)
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
                self.gone.setdefault(
                    app.id, f"Dify answered 404 ({error.code}) while reading it: deleted or no longer normal"
                )
            self._warn(f"skipped: {error}")
        else:
            self._warn(f"{app.label}: {what} skipped: {error}")

    def _max_workers(self) -> int:
        return self.client.max_concurrency

    def _emit(self, events: list[UsageEvent]) -> None:
        with self._lock:
            gone = set(self.gone)
        self.batcher.add(event for event in events if event.app_id not in gone)

    # --- the run ------------------------------------------------------------------------------------

    def run(self) -> FetchResult:
        requests_before = self.client.request_count
        details_before = self.client.detail_read_count
        retries_before = self.client.retry_count

        self.account_tz = ZoneInfo(self.client.account_profile().timezone)
        apps = [app for app in list_apps(self.client) if self._is_readable(app)]
        listings = [
            listing
            for listing in parallel_map(self._list_app, apps, max_workers=self._max_workers())
            if listing is not None
        ]
        self.current_models = {listing.app.id: listing.current_model for listing in listings}

        for conversations in chunks(
            [(listing.app, chat) for listing in listings for chat in listing.chats if listing.app.mode != AGENT],
            CHUNK_SIZE,
        ):
            self._conversations(conversations)
        for listing in listings:
            if listing.agent_models is not None:
                self._agent_conversations(listing.app, listing.chats, listing.agent_models)
        for logs in chunks([(listing.app, log) for listing in listings for log in listing.logs], CHUNK_SIZE):
            self._workflow_runs(logs)
        if self.detail_reads == "auto":
            jobs = self.pending_details + [
                _DetailJob(listing.app, conversation, [])
                for listing in listings
                for conversation in listing.completions
            ]
            for batch in chunks(jobs, CHUNK_SIZE):
                self._detail_events(batch)

        self.batcher.flush()
        dropped = self.batcher.sink.drop_apps(set(self.gone)) if self.gone else 0
        for app in apps:
            if app.id in self.gone:
                self.skipped.append(SkippedApp(app.id, app.name, app.mode, self.gone[app.id]))
        result = self.result
        result.event_count = self.batcher.handed_over - dropped
        result.apps_read = len(apps) - len(self.gone)
        result.requests = self.client.request_count - requests_before
        result.detail_reads = self.client.detail_read_count - details_before
        result.skipped_apps = self.skipped
        result.warnings = self.warnings
        result.retries = self.client.retry_count - retries_before
        result.lowest_concurrency = self.client.concurrency.lowest_limit
        result.dify_version = self.client.dify_version
        return result

    def _is_readable(self, app: App) -> bool:
        if app.mode in NO_LLM_MODES:
            self.skipped.append(
                SkippedApp(
                    app.id, app.name, app.mode, f"mode {app.mode!r} makes no LLM calls that Dify reports as usage"
                )
            )
            return False
        if app.mode not in USAGE_MODES:  # never silently: its usage may be real, and is missing
            reason = f"mode {app.mode!r} is not known to this exporter: its usage is not read"
            self.skipped.append(SkippedApp(app.id, app.name, app.mode, reason, unread_usage=True))
            self._warn(f"{app.label}: {reason}")
            return False
        if app.mode == COMPLETION and self.detail_reads == "never":
            self.skipped.append(
                SkippedApp(
                    app.id,
                    app.name,
                    app.mode,
                    "DIFY_DETAIL_READS=never: a completion message's tokens are only in its conversation detail",
                )
            )
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
                if app.mode == AGENT:
                    listing.agent_models = agent_models(self.client, app)
                if app.mode in CHAT_MODES and self.detail_reads == "never":
                    listing.current_model = app.current_model or self.client.app_detail(app).current_model
        except DifyNotFoundError as error:
            self._not_found(app, error, "listing")
            return None
        return listing

    # --- phase 2: messages, then the advanced-chat runs behind them ------------------------------------

    def _conversations(self, chunk: Sequence[tuple[App, ChatConversation]]) -> None:
        details = self.detail_cache.get_details(
            [conversation.id for app, conversation in chunk if app.mode in CHAT_MODES]
        )
        runs: list[RunContext] = []
        ended: dict[str, str] = {}
        for item in self._messages(chunk, details):
            in_window = [message for message in item.messages if self.window.contains(message.created_at)]
            if not in_window:
                continue
            if item.app.mode == ADVANCED_CHAT:
                user = conversation_user(item.conversation)
                item_runs = [
                    RunContext(
                        item.app,
                        message.workflow_run_id,
                        message.created_at,
                        user,
                        item.conversation.id,
                        message.message_id,
                    )
                    for message in in_window
                    if message.workflow_run_id
                ]
                runs += item_runs
                if advanced_chat_runs_ended(item.conversation, item.messages):
                    ended.update((run.workflow_run_id, ADVANCED_CHAT_ENDED) for run in item_runs)
            elif (listed := item.conversation.listed_model) is not None:
                self._emit(
                    self._events_of(
                        item.app, item.conversation, in_window, listed.provider, listed.name, approximate=False
                    )
                )
            elif self.detail_reads == "never" or item.conversation.id in details:
                detail = details.get(item.conversation.id)
                self._emit(self._chat_events(item.app, item.conversation, in_window, detail))
            else:
                self.pending_details.append(_DetailJob(item.app, item.conversation, in_window))
        self._runs(runs, ended)

    def _messages(
        self, chunk: Sequence[tuple[App, ChatConversation]], details: dict[str, ConversationDetail]
    ) -> list[_Messages]:
        """Every message of these conversations: cached where the list shows no change, else read (and cached
        once settled)."""
        cached = self.fetch_cache.get_conversations([conversation.id for _, conversation in chunk])
        reused: list[_Messages] = []
        to_read: list[tuple[App, ChatConversation]] = []
        for app, conversation in chunk:
            entry = cached.get(conversation.id)
            if entry is not None and is_unchanged(entry, conversation, details.get(conversation.id)):
                reused.append(_Messages(app, conversation, entry.messages, complete=True))
            else:
                to_read.append((app, conversation))
        read_at = self.now()
        fresh = [
            item
            for item in parallel_map(self._read_messages, to_read, max_workers=self._max_workers())
            if item is not None
        ]
        self.fetch_cache.put_conversations(
            [
                ConversationMessages(
                    item.app.id,
                    item.conversation.id,
                    item.conversation.updated_at,
                    item.conversation.message_count,
                    item.messages,
                )
                for item in fresh
                if item.complete
                and is_settled(item.messages, item.conversation, read_at=read_at, max_run_seconds=self.max_run_seconds)
            ]
        )
        self.result.conversations_cached += len(reused)
        self.result.conversations_read += len(fresh)
        return reused + fresh

    def _read_messages(self, item: tuple[App, ChatConversation]) -> _Messages | None:
        app, conversation = item
        if self._is_gone(app):
            return None
        try:
            read = read_conversation_messages(self.client, app, conversation)
        except DifyNotFoundError as error:
            self._not_found(app, error, f"conversation {conversation.id}")
            return None
        if read.shortfall:
            self._warn(
                f"{app.label}: conversation {conversation.id} lists {read.expected} messages but only "
                f"{len(read.messages)} could be read (first_id paging lost same-second messages)"
            )
        return _Messages(
            app, conversation, tuple(MessageUsage.of(message) for message in read.messages), complete=not read.shortfall
        )

    # --- phase 2b: agent apps (1.16+) ---------------------------------------------------------------------

    def _agent_conversations(self, app: App, conversations: list[ChatConversation], models: AgentModels) -> None:
        def read(conversation: ChatConversation) -> tuple[ChatConversation, list[MessageUsage]] | None:
            if self._is_gone(app):
                return None
            try:
                return conversation, agent_conversation_messages(self.client, app, conversation)
            except DifyNotFoundError as error:
                self._not_found(app, error, f"conversation {conversation.id}")
                return None

        unknown = 0
        for item in parallel_map(read, conversations, max_workers=self._max_workers()):
            if item is None:
                continue
            conversation, messages = item
            self.result.conversations_read += 1
            user = conversation_user(conversation)
            events = []
            for message in messages:
                if not self.window.contains(message.created_at):
                    continue
                model = models.at(message.created_at)
                unknown += model is None
                events.append(
                    message_event(
                        app,
                        message,
                        user=user,
                        provider=model.provider if model else UNKNOWN,
                        model=model.name if model else UNKNOWN,
                        approximate=False,
                        timezone=self.usage_tz,
                    )
                )
            self._emit(events)
        if unknown:
            self._warn(
                f"{app.label}: {unknown} messages predate every published config of its Agent; they count "
                "as model 'unknown'"
            )

    # --- phase 3: node executions -------------------------------------------------------------------

    def _workflow_runs(self, chunk: Sequence[tuple[App, WorkflowAppLog]]) -> None:
        runs = [
            RunContext(app, log.workflow_run.id, log.workflow_run.created_at, app_log_user(log), None, None)
            for app, log in chunk
        ]
        ended = {
            log.workflow_run.id: log.workflow_run.status
            for _, log in chunk
            if log.workflow_run.status in FINAL_RUN_STATUSES
        }
        self._runs(runs, ended)

    def _runs(self, runs: list[RunContext], ended: dict[str, str]) -> None:
        """Events of these runs: cached node usage where there is some, else read. `ended`: run id -> status
        of the runs known to have ended before they are read (only those are cached)."""
        if not runs:
            return
        cached = self.fetch_cache.get_runs([run.workflow_run_id for run in runs])
        to_read = []
        for run in runs:
            hit = cached.get(run.workflow_run_id)
            if hit is None:
                to_read.append(run)
            else:
                self._emit(node_events(run, hit.nodes, timezone=self.usage_tz, warnings=self.warnings))
        self.result.runs_cached += len(runs) - len(to_read)
        finished: list[FinishedRun] = []

        def keep(item: tuple[RunContext, list[NodeUsage]] | None) -> None:
            if item is None:
                return
            run, nodes = item
            self.result.runs_read += 1
            self._emit(node_events(run, nodes, timezone=self.usage_tz, warnings=self.warnings))
            if run.workflow_run_id in ended:
                finished.append(FinishedRun(run.app.id, run.workflow_run_id, ended[run.workflow_run_id], tuple(nodes)))

        parallel_each(self._read_nodes, to_read, max_workers=self._max_workers(), on_result=keep)
        self.fetch_cache.put_runs(finished)

    def _read_nodes(self, run: RunContext) -> tuple[RunContext, list[NodeUsage]] | None:
        if self._is_gone(run.app):
            return None
        try:
            return run, node_usages(self.client.node_executions(run.app, run.workflow_run_id))
        except DifyNotFoundError as error:
            self._not_found(run.app, error, f"workflow run {run.workflow_run_id}")
            return None

    # --- phase 4: conversation details, once ever -----------------------------------------------------

    def _detail_events(self, jobs: Sequence[_DetailJob]) -> None:
        """Events of conversations that need their detail: from the cache, else read now and cached."""
        details = self.detail_cache.get_details([job.conversation.id for job in jobs])
        details |= self._read_details([job for job in jobs if job.conversation.id not in details])
        for job in jobs:
            detail = details.get(job.conversation.id)
            if isinstance(job.conversation, CompletionConversation):
                self._emit(self._completion_events(job.app, job.conversation, detail))
            else:
                self._emit(self._chat_events(job.app, job.conversation, job.chat_messages, detail))

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
        conversation_id = job.conversation.id
        try:
            if job.completion:
                completion = self.client.completion_conversation_detail(job.app, conversation_id)
                model = completion.config.model if completion.config else None
                return ConversationDetail(
                    job.app.id,
                    conversation_id,
                    model.provider if model else None,
                    model.name if model else None,
                    None,
                    self.now(),
                    completion.message,
                )
            chat = self.client.chat_conversation_detail(job.app, conversation_id)
            model = chat.config.model if chat.config else None
            return ConversationDetail(
                job.app.id,
                conversation_id,
                model.provider if model else None,
                model.name if model else None,
                chat.updated_at,
                self.now(),
                None,
            )
        except DifyNotFoundError as error:
            self._not_found(job.app, error, f"conversation {conversation_id} detail")
            return None

    # --- events -------------------------------------------------------------------------------------

    def _chat_events(
        self, app: App, conversation: ChatConversation, messages: list[MessageUsage], detail: ConversationDetail | None
    ) -> list[UsageEvent]:
        if self.detail_reads == "never":
            current_model = self.current_models.get(app.id)
            provider, model = (current_model.provider, current_model.name) if current_model else (UNKNOWN, UNKNOWN)
            if current_model is None:
                self._warn(f"{app.label} has no current model; its messages count as 'unknown'")
            approximate = True
        else:
            if detail is None:
                self._warn(
                    f"{app.label}: conversation {conversation.id} has no detail; "
                    f"its {len(messages)} messages in the window are not counted"
                )
                return []
            provider, model = detail.provider or UNKNOWN, detail.model or UNKNOWN
            if UNKNOWN in (provider, model):
                self._warn(
                    f"{app.label}: conversation {conversation.id} detail names no "
                    "model; its messages count as 'unknown'"
                )
            approximate = False
        return self._events_of(app, conversation, messages, provider, model, approximate=approximate)

    def _events_of(
        self,
        app: App,
        conversation: ChatConversation,
        messages: list[MessageUsage],
        provider: str,
        model: str,
        *,
        approximate: bool,
    ) -> list[UsageEvent]:
        user = conversation_user(conversation)
        return [
            message_event(
                app, message, user=user, provider=provider, model=model, approximate=approximate, timezone=self.usage_tz
            )
            for message in messages
        ]

    def _completion_events(
        self, app: App, conversation: CompletionConversation, detail: ConversationDetail | None
    ) -> list[UsageEvent]:
        if detail is None or detail.completion_message is None:
            if detail is not None:
                self._warn(
                    f"{app.label}: cached detail of completion conversation {conversation.id} "
                    "has no message; not counted"
                )
            return []
        message = parse_body(
            Message,
            detail.completion_message,
            request=f"cached detail of completion conversation {conversation.id} of {app.label}",
        )
        if not self.window.contains(message.created_at):
            return []
        return [
            message_event(
                app,
                MessageUsage.of(message),
                user=conversation_user(conversation),
                provider=detail.provider or UNKNOWN,
                model=detail.model or UNKNOWN,
                approximate=False,
                timezone=self.usage_tz,
            )
        ]
