"""The simulator's data, shaped like Dify's own PostgreSQL tables (one dataclass per table).

Only the columns the console API renders or filters on are kept. Timestamps are aware UTC
datetimes with whole seconds (Dify returns Unix seconds). JSON columns (`metadata`, `process_data`,
`outputs`, `execution_metadata`, ...) hold exactly what Dify stores: prices there are decimal
strings. Numeric columns (`Message.total_price`) are `Decimal` with Dify's 7 places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

JsonDict = dict[str, Any]

# Message invoke_from values; "debugger" is the app editor's preview.
DEBUGGER = "debugger"


@dataclass
class Tenant:
    id: str
    name: str
    plan: str
    status: str
    created_at: datetime
    setup_at: datetime  # when POST /setup finished (GET /setup reports it)


@dataclass
class Account:
    id: str
    name: str
    email: str
    timezone: str
    role: str  # the tenant_account_joins role: owner, admin, editor, normal
    created_at: datetime
    last_login_at: datetime | None = None
    last_active_at: datetime | None = None
    last_login_ip: str | None = None
    interface_language: str = "en-US"
    interface_theme: str = "light"
    status: str = "active"


@dataclass
class AppModelConfig:
    id: str
    app_id: str
    provider: str | None  # None: an agent app's config, which holds no model (the Agent has it)
    model_name: str | None
    model_mode: str | None  # "chat" or "completion": the model's mode, not the app's
    created_by: str
    created_at: datetime
    completion_params: JsonDict = field(default_factory=lambda: {"temperature": 0.7})
    pre_prompt: str | None = "You are a helpful assistant."
    agent_mode: JsonDict | None = None  # stored JSON; None renders as the disabled default
    prompt_type: str = "simple"

    @property
    def model(self) -> JsonDict:
        if self.provider is None:
            return {}  # Dify's `model_dict` of a config without a model
        return {
            "provider": self.provider,
            "name": self.model_name,
            "mode": self.model_mode,
            "completion_params": self.completion_params,
        }


@dataclass
class Workflow:
    id: str
    app_id: str
    version: str
    created_by: str
    created_at: datetime
    graph: JsonDict = field(default_factory=lambda: {"nodes": [], "edges": []})


@dataclass
class App:
    id: str
    name: str
    mode: str  # chat, agent-chat, completion, advanced-chat, workflow, channel, rag-pipeline
    status: str  # "normal"; anything else makes every per-app endpoint 404
    created_by: str
    created_at: datetime
    app_model_config_id: str | None = None  # the current (published) config of message-based apps
    workflow_id: str | None = None
    description: str = ""
    icon_type: str = "emoji"
    icon: str = "🤖"
    icon_background: str = "#FFEAD5"
    enable_site: bool = True
    enable_api: bool = True
    bound_agent_id: str | None = None  # mode `agent` (1.16+): its active roster Agent (Dify's `agents` row)
    agent_role: str = ""  # mode `agent`: the roster Agent's role
    updated_at: datetime | None = None  # None: as created_at (Dify stamps both, sometimes a second apart)


@dataclass
class EndUser:
    id: str
    app_id: str
    type: str  # browser (web app), service-api, mcp, openapi, trigger: 1.16 accepts no other (E4)
    session_id: str
    external_user_id: str | None = None
    is_anonymous: bool = False  # rendered as false whatever it is (Dify 1.12.1)


@dataclass
class Conversation:
    id: str
    app_id: str
    app_model_config_id: str | None  # the config it was created with (None for advanced-chat)
    mode: str
    name: str
    from_source: str  # api (end user) or console (account)
    from_end_user_id: str | None
    from_account_id: str | None
    invoke_from: str  # service-api, web-app, explore, debugger
    created_at: datetime
    updated_at: datetime
    read_at: datetime | None = None
    status: str = "normal"
    summary: str | None = None


@dataclass
class Message:
    id: str
    app_id: str
    conversation_id: str
    query: str
    answer: str
    message_tokens: int
    answer_tokens: int
    total_price: Decimal  # Numeric(10,7); what Dify's statistics sum
    currency: str
    from_source: str
    from_end_user_id: str | None
    from_account_id: str | None
    invoke_from: str
    created_at: datetime
    metadata: JsonDict | None  # message_metadata; None renders as {} (older rows: no usage)
    workflow_run_id: str | None = None
    model_provider: str | None = None  # columns Dify stores but the console API never returns
    model_id: str | None = None
    inputs: JsonDict = field(default_factory=dict)
    provider_response_latency: float = 1.3
    status: str = "normal"
    error: str | None = None
    parent_message_id: str | None = None


@dataclass
class AgentThought:
    id: str
    message_id: str
    position: int
    thought: str
    tool: str
    tool_input: str
    observation: str
    created_at: datetime
    answer: str | None = None  # agent apps' thoughts hold the streamed answer; legacy agent-chat ones none


@dataclass
class WorkflowRun:
    id: str
    app_id: str
    workflow_id: str
    type: str  # "workflow" or "chat" (advanced-chat)
    triggered_from: str  # app-run, debugging, webhook, schedule, plugin
    version: str
    status: str  # running, succeeded, failed, stopped, partial-succeeded
    elapsed_time: float
    total_tokens: int
    total_steps: int
    created_by_role: str  # account or end_user
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    error: str | None = None
    exceptions_count: int = 0
    graph: JsonDict = field(default_factory=lambda: {"nodes": [], "edges": []})
    inputs: JsonDict = field(default_factory=dict)
    outputs: JsonDict = field(default_factory=dict)


@dataclass
class NodeExecution:
    id: str
    app_id: str
    workflow_run_id: str
    index: int
    node_id: str
    node_type: str
    title: str
    status: str
    created_by_role: str
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    process_data: JsonDict | None = None
    outputs: JsonDict | None = None
    execution_metadata: JsonDict | None = None
    inputs: JsonDict = field(default_factory=dict)
    error: str | None = None
    elapsed_time: float = 0.8
    predecessor_node_id: str | None = None
    process_data_truncated: bool = False


@dataclass
class WorkflowAppLog:
    id: str
    app_id: str
    workflow_run_id: str
    created_from: str  # service-api, web-app, installed-app
    created_by_role: str
    created_by: str
    created_at: datetime  # about the run's end


@dataclass
class AgentConfigSnapshot:
    """Dify 1.16's `agent_config_snapshots`: a published config of an Agent, its model in `config_snapshot`."""

    id: str
    agent_id: str
    version: int
    model_provider: str | None
    model: str | None
    created_by: str
    created_at: datetime


@dataclass
class Site:
    """An app's web site (Dify's `sites` row): what the app detail shows under `site`."""

    app_id: str
    code: str  # also the site's access token
    title: str
    icon_type: str
    icon: str
    icon_background: str
    created_by: str
    created_at: datetime


@dataclass
class AgentDebugConversation:
    """Dify 1.16's `agent_debug_conversations`: an account's console debug conversation of an agent app."""

    id: str
    agent_id: str
    app_id: str
    account_id: str
    conversation_id: str
    created_at: datetime


@dataclass
class AgentConfigDraft:
    """The Agent's editable draft config (from source, not recorded: `AgentComposerService`)."""

    id: str
    agent_id: str
    created_by: str
    created_at: datetime


Row = (
    Tenant
    | Account
    | AppModelConfig
    | Workflow
    | App
    | EndUser
    | Conversation
    | Message
    | AgentThought
    | WorkflowRun
    | NodeExecution
    | WorkflowAppLog
    | AgentConfigSnapshot
    | Site
    | AgentDebugConversation
    | AgentConfigDraft
)
