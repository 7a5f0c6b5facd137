"""A Dify workspace held in memory: the tables of `dify_tables`, their lookups, and what Dify derives.

Rows are added with `add()` (which keeps the per-app / per-conversation / per-run indexes), in
the order Dify would have inserted them: ties on a timestamp keep that order, as PostgreSQL did
in the recordings. Tests may add rows while a simulator serves the workspace; hold `lock` for
changes made of several rows at once.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, defaultdict
from datetime import date, datetime

from dify_meter.core.event import UsageEvent, UserType
from dify_meter.sandbox.dify.ground_truth import usage_events
from dify_meter.sandbox.dify.statistics import (
    DailyTokenCost,
    DailyWorkflowTokens,
    message_token_costs,
    workflow_token_costs,
)
from dify_meter.sandbox.dify.tables import (
    Account,
    AgentConfigDraft,
    AgentConfigSnapshot,
    AgentDebugConversation,
    AgentThought,
    App,
    AppModelConfig,
    Conversation,
    EndUser,
    Message,
    NodeExecution,
    Row,
    Site,
    Tenant,
    Workflow,
    WorkflowAppLog,
    WorkflowRun,
)


class Workspace:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.apps: dict[str, App] = {}
        self.app_model_configs: dict[str, AppModelConfig] = {}
        self.workflows: dict[str, Workflow] = {}
        self.end_users: dict[str, EndUser] = {}
        self.conversations: dict[str, Conversation] = {}
        self.messages: dict[str, Message] = {}
        self.agent_thoughts: dict[str, AgentThought] = {}
        self.workflow_runs: dict[str, WorkflowRun] = {}
        self.node_executions: dict[str, NodeExecution] = {}
        self.workflow_app_logs: dict[str, WorkflowAppLog] = {}
        self.agent_snapshots: dict[str, AgentConfigSnapshot] = {}
        self.sites: dict[str, Site] = {}  # by app id
        self.agent_debug_conversations: dict[str, AgentDebugConversation] = {}
        self.agent_drafts: dict[str, AgentConfigDraft] = {}
        self._conversations_by_app: defaultdict[str, list[Conversation]] = defaultdict(list)
        self._messages_by_conversation: defaultdict[str, list[Message]] = defaultdict(list)
        self._thoughts_by_message: defaultdict[str, list[AgentThought]] = defaultdict(list)
        self._message_by_run: dict[str, Message] = {}
        self._runs_by_app: defaultdict[str, list[WorkflowRun]] = defaultdict(list)
        self._nodes_by_run: defaultdict[str, list[NodeExecution]] = defaultdict(list)
        self._logs_by_app: defaultdict[str, list[WorkflowAppLog]] = defaultdict(list)
        self._log_by_run: dict[str, WorkflowAppLog] = {}
        # Conversation id -> number of detail reads served (the read has a side effect in Dify).
        self.detail_reads: Counter[str] = Counter()

    def add(self, row: Row) -> Row:
        with self.lock:
            match row:
                case Account():
                    self.accounts[row.id] = row
                case App():
                    self.apps[row.id] = row
                case AppModelConfig():
                    self.app_model_configs[row.id] = row
                case Workflow():
                    self.workflows[row.id] = row
                case EndUser():
                    self.end_users[row.id] = row
                case Conversation():
                    self.conversations[row.id] = row
                    self._conversations_by_app[row.app_id].append(row)
                case Message():
                    self.messages[row.id] = row
                    self._messages_by_conversation[row.conversation_id].append(row)
                    if row.workflow_run_id:
                        self._message_by_run[row.workflow_run_id] = row
                case AgentThought():
                    self.agent_thoughts[row.id] = row
                    self._thoughts_by_message[row.message_id].append(row)
                case WorkflowRun():
                    self.workflow_runs[row.id] = row
                    self._runs_by_app[row.app_id].append(row)
                case NodeExecution():
                    self.node_executions[row.id] = row
                    self._nodes_by_run[row.workflow_run_id].append(row)
                case AgentConfigSnapshot():
                    self.agent_snapshots[row.id] = row
                case Site():
                    self.sites[row.app_id] = row
                case AgentDebugConversation():
                    self.agent_debug_conversations[row.id] = row
                case AgentConfigDraft():
                    self.agent_drafts[row.id] = row
                case WorkflowAppLog():
                    self.workflow_app_logs[row.id] = row
                    self._logs_by_app[row.app_id].append(row)
                    self._log_by_run[row.workflow_run_id] = row
                case _:
                    raise TypeError(f"not a Dify table row: {type(row).__name__}")
        return row

    @property
    def owner(self) -> Account:
        return next(a for a in self.accounts.values() if a.role == "owner")

    def conversations_of(self, app_id: str) -> list[Conversation]:
        return self._conversations_by_app.get(app_id, [])

    def messages_of(self, conversation_id: str) -> list[Message]:
        return self._messages_by_conversation.get(conversation_id, [])

    def thoughts_of(self, message_id: str) -> list[AgentThought]:
        return self._thoughts_by_message.get(message_id, [])

    def message_of_run(self, run_id: str) -> Message | None:
        return self._message_by_run.get(run_id)

    def runs_of(self, app_id: str) -> list[WorkflowRun]:
        return self._runs_by_app.get(app_id, [])

    def nodes_of(self, run_id: str) -> list[NodeExecution]:
        return self._nodes_by_run.get(run_id, [])

    def logs_of(self, app_id: str) -> list[WorkflowAppLog]:
        return self._logs_by_app.get(app_id, [])

    def log_of_run(self, run_id: str) -> WorkflowAppLog | None:
        return self._log_by_run.get(run_id)

    def session_or_account(self, end_user_id: str | None, account_id: str | None) -> tuple[UserType, str]:
        """(user_type, user_id) as the usage rules name a user: end-user session id, else account id."""
        if end_user_id and end_user_id in self.end_users:
            return "end_user", self.end_users[end_user_id].session_id
        if account_id:
            return "account", account_id
        raise ValueError(f"no end user {end_user_id!r} and no account: a row without a creator")

    def digest(self) -> str:
        """A hash of every table's rows: a read that writes in Dify (the simulator performs each known one: detail
        reads set `read_at`, before 1.14 `updated_at`; 1.16's agent detail and composer create a debug conversation and
        a draft) changes it, a read-only export does not."""
        tables = (
            self.tenant,
            self.accounts,
            self.apps,
            self.app_model_configs,
            self.workflows,
            self.end_users,
            self.conversations,
            self.messages,
            self.agent_thoughts,
            self.workflow_runs,
            self.node_executions,
            self.workflow_app_logs,
            self.agent_snapshots,
            self.sites,
            self.agent_debug_conversations,
            self.agent_drafts,
        )
        with self.lock:
            text = repr([sorted(map(repr, t.values())) if isinstance(t, dict) else repr(t) for t in tables])
        return hashlib.sha256(text.encode()).hexdigest()

    def ground_truth(
        self, window_start: datetime, window_end: datetime, timezone: str, detail_reads: str = "auto"
    ) -> list[UsageEvent]:
        with self.lock:
            return usage_events(self, window_start, window_end, timezone, detail_reads)

    def token_costs(
        self, app_id: str, start_local: datetime | None, end_local: datetime | None, tz: str
    ) -> list[DailyTokenCost]:
        """Dify's `statistics/token-costs` numbers; `start_local`/`end_local` naive, in `tz`."""
        with self.lock:
            return message_token_costs(self, app_id, start_local, end_local, tz)

    def workflow_token_costs(
        self, app_id: str, start_local: datetime | None, end_local: datetime | None, tz: str
    ) -> list[DailyWorkflowTokens]:
        """Dify's `workflow/statistics/token-costs` numbers (app-run runs only)."""
        with self.lock:
            return workflow_token_costs(self, app_id, start_local, end_local, tz)

    def summary(self) -> str:
        modes = Counter(app.mode for app in self.apps.values())
        days: set[date] = {m.created_at.date() for m in self.messages.values()}
        days |= {r.created_at.date() for r in self.workflow_runs.values()}
        span = f"{min(days)}..{max(days)} UTC" if days else "no activity"
        return (
            f"{len(self.apps)} apps ({', '.join(f'{n} {m}' for m, n in sorted(modes.items()))}), "
            f"{len(self.accounts)} accounts, {len(self.end_users)} end users, "
            f"{len(self.conversations)} conversations, {len(self.messages)} messages, "
            f"{len(self.workflow_runs)} workflow runs, {len(self.node_executions)} node executions, "
            f"{len(self.workflow_app_logs)} app logs; {span}"
        )
