"""Pydantic models of the parts of Dify 1.x console responses that the exporter reads.

Lenient to fields we do not use (`extra="ignore"`), strict on the ones we do. Timestamps are Unix
seconds and become aware UTC datetimes; prices are decimal strings and become `Decimal`, never float.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from dify_meter.sources.console.errors import AppLabel, DifyResponseError

USAGE_LEAF_NODE_TYPES = frozenset({"llm", "question-classifier", "parameter-extractor"})
AGENT_NODE_TYPE = "agent"


def _unix_seconds(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected Unix seconds (a number), got {value!r}")
    return datetime.fromtimestamp(value, tz=UTC)


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"expected a decimal string such as '0.0012', got {value!r}")
    # A JSON number goes through its shortest repr, which is the literal Dify wrote: no binary rounding.
    text = repr(value) if isinstance(value, float) else str(value).strip() if isinstance(value, str | int) else None
    try:
        number = Decimal(text) if text is not None else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ValueError(f"expected a decimal string such as '0.0012', got {value!r}")
    return number


UnixTime = Annotated[datetime, PlainValidator(_unix_seconds)]
Price = Annotated[Decimal, PlainValidator(_decimal)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, protected_namespaces=())


class ListPage(_Body):
    """One page of a paged list; subclasses type `data`."""

    has_more: bool
    data: list[Any]


# --- apps -----------------------------------------------------------------------------------------


class ModelRef(_Body):
    provider: str
    name: str


class ModelConfig(_Body):
    model: ModelRef | None = None

    @field_validator("model", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == {} else value  # 1.16 agent conversations list `"model": {}`: no model


class App(_Body):
    """An item of `/apps`, and the body of `/apps/{id}` (same fields we read)."""

    id: str
    name: str
    mode: str
    config: ModelConfig | None = Field(default=None, alias="model_config")
    bound_agent_id: str | None = None  # mode `agent` (1.16+): the Agent whose logs hold the app's messages

    @property
    def label(self) -> AppLabel:
        return AppLabel(self.id, self.name)

    @property
    def current_model(self) -> ModelRef | None:
        return self.config.model if self.config else None


class AppsPage(ListPage):
    page: int
    limit: int
    total: int
    data: list[App]


# --- conversations --------------------------------------------------------------------------------


class StatusCount(_Body):
    """`status_count` of an advanced-chat conversation: its messages' workflow runs by status. Dify counts
    only these three; running and stopped runs are in none of them."""

    success: int | None = None
    failed: int | None = None
    partial_success: int | None = None

    @property
    def ended(self) -> int:
        return (self.success or 0) + (self.failed or 0) + (self.partial_success or 0)


class ChatConversation(_Body):
    id: str
    from_source: str | None = None
    from_end_user_id: str | None = None
    from_end_user_session_id: str | None = None
    from_account_id: str | None = None
    created_at: UnixTime
    updated_at: UnixTime
    message_count: int
    status_count: StatusCount | None = None  # advanced-chat only (None elsewhere and before Dify had it)
    config: ModelConfig | None = Field(default=None, alias="model_config")

    @property
    def listed_model(self) -> ModelRef | None:
        """The conversation's own model, where the list item carries it (Dify 1.14+: D1), else None."""
        return self.config.model if self.config else None


class ChatConversationsPage(ListPage):
    page: int
    limit: int
    total: int
    data: list[ChatConversation]


class CompletionConversation(_Body):
    id: str
    from_end_user_id: str | None = None
    from_end_user_session_id: str | None = None
    from_account_id: str | None = None
    created_at: UnixTime
    updated_at: UnixTime | None = None


class CompletionConversationsPage(ListPage):
    page: int
    limit: int
    total: int
    data: list[CompletionConversation]


class ChatConversationDetail(_Body):
    """`/chat-conversations/{id}`: the model of the config the conversation was created with."""

    id: str
    created_at: UnixTime
    updated_at: UnixTime
    config: ModelConfig | None = Field(default=None, alias="model_config")


# --- agent apps (1.16+) ----------------------------------------------------------------------------


class AgentLogMessage(_Body):
    """An item of `/agent/{agent_id}/logs/{conversation_id}/messages`: one user turn, its summed usage."""

    id: str
    conversation_id: str
    from_end_user_id: str | None = None
    from_account_id: str | None = None
    message_tokens: int
    answer_tokens: int
    total_price: Price | None = None
    currency: str | None = None
    created_at: UnixTime


class AgentLogMessagesPage(ListPage):
    page: int
    limit: int
    total: int
    data: list[AgentLogMessage]


class AgentVersion(_Body):
    """An item of `/agent/{agent_id}/versions`: a published config snapshot of the Agent."""

    id: str
    created_at: UnixTime


class AgentVersions(_Body):
    data: list[AgentVersion]


class AgentSoulModel(_Body):
    model_provider: str
    model: str


class AgentSoul(_Body):
    model: AgentSoulModel | None = None


class AgentVersionDetail(_Body):
    """`/agent/{agent_id}/versions/{version_id}`: the snapshot's config, whose `model` the Agent ran on."""

    id: str
    created_at: UnixTime
    config_snapshot: AgentSoul


# --- messages -------------------------------------------------------------------------------------


class Usage(_Body):
    """`metadata.usage` of a message, `process_data.usage` / `outputs.usage` of a node."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int | None = None
    total_price: Price | None = None
    currency: str | None = None


class MessageMetadata(_Body):
    usage: Usage | None = None


class Message(_Body):
    id: str
    conversation_id: str
    message_tokens: int
    answer_tokens: int
    from_end_user_id: str | None = None
    from_account_id: str | None = None
    workflow_run_id: str | None = None
    created_at: UnixTime
    metadata: MessageMetadata = MessageMetadata()

    @field_validator("metadata", mode="before")
    @classmethod
    def _missing_metadata_is_empty(cls, value: object) -> object:
        return {} if value is None else value


class MessagesPage(ListPage):
    limit: int
    data: list[Message]


class CompletionConversationDetail(_Body):
    """`/completion-conversations/{id}`: the config model and the one message, the only place with tokens."""

    id: str
    created_at: UnixTime
    config: ModelConfig | None = Field(default=None, alias="model_config")
    message: dict[str, Any]  # kept as Dify sent it: it is stored in the detail cache and re-parsed later

    @field_validator("message")
    @classmethod
    def _is_a_message(cls, value: dict[str, Any]) -> dict[str, Any]:
        Message.model_validate(value)
        return value

    @property
    def parsed_message(self) -> Message:
        return Message.model_validate(self.message)


# --- workflow runs --------------------------------------------------------------------------------


class AccountRef(_Body):
    id: str
    name: str | None = None
    email: str | None = None


class EndUserRef(_Body):
    id: str
    type: str | None = None
    session_id: str | None = None


class WorkflowRunRef(_Body):
    id: str
    status: str
    triggered_from: str | None = None
    total_tokens: int | None = None
    created_at: UnixTime
    finished_at: UnixTime | None = None


class WorkflowAppLog(_Body):
    id: str
    workflow_run: WorkflowRunRef
    created_by_role: str | None = None
    created_by_account: AccountRef | None = None
    created_by_end_user: EndUserRef | None = None
    created_at: UnixTime


class WorkflowAppLogsPage(ListPage):
    page: int
    limit: int
    total: int
    data: list[WorkflowAppLog]


class NodeProcessData(_Body):
    model_provider: str | None = None
    model_name: str | None = None
    usage: Usage | None = None


class NodeOutputs(_Body):
    usage: Usage | None = None


class NodeExecutionMetadata(_Body):
    total_tokens: int | None = None
    total_price: Price | None = None
    currency: str | None = None


class NodeExecution(_Body):
    """One row of `/workflow-runs/{id}/node-executions`.

    `process_data`, `outputs` and `execution_metadata` are free-form for most node types (a code node
    may output a variable called `usage`), so they are typed only for usage-bearing nodes.
    """

    id: str
    node_id: str
    node_type: str
    title: str | None = None
    status: str | None = None
    created_at: UnixTime
    process_data: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    execution_metadata: dict[str, Any] | None = None
    _process: NodeProcessData = PrivateAttr(default_factory=NodeProcessData)
    _outputs: NodeOutputs = PrivateAttr(default_factory=NodeOutputs)
    _metadata: NodeExecutionMetadata = PrivateAttr(default_factory=NodeExecutionMetadata)

    @model_validator(mode="after")
    def _type_usage_parts(self) -> NodeExecution:
        if self.may_carry_usage:
            self._process = NodeProcessData.model_validate(self.process_data or {})
            self._outputs = NodeOutputs.model_validate(self.outputs or {})
            self._metadata = NodeExecutionMetadata.model_validate(self.execution_metadata or {})
        return self

    @property
    def may_carry_usage(self) -> bool:
        """Leaf LLM nodes and agent nodes; never iteration/loop, whose metadata repeats their children."""
        return self.node_type in USAGE_LEAF_NODE_TYPES or self.node_type == AGENT_NODE_TYPE

    @property
    def typed_process_data(self) -> NodeProcessData:
        return self._process

    @property
    def typed_outputs(self) -> NodeOutputs:
        return self._outputs

    @property
    def typed_metadata(self) -> NodeExecutionMetadata:
        return self._metadata


class NodeExecutions(_Body):
    data: list[NodeExecution]


class WorkflowRunListItem(_Body):
    """`/workflow-runs` and `/advanced-chat/workflow-runs` (debugging by default: not used for usage)."""

    id: str
    status: str
    conversation_id: str | None = None
    message_id: str | None = None
    created_at: UnixTime


class WorkflowRunsPage(ListPage):
    limit: int
    data: list[WorkflowRunListItem]


class WorkflowRunDetail(_Body):
    id: str
    status: str
    total_tokens: int | None = None
    created_by_account: AccountRef | None = None
    created_by_end_user: EndUserRef | None = None
    created_at: UnixTime
    finished_at: UnixTime | None = None


# --- account, workspace, statistics ---------------------------------------------------------------


class AccountProfile(_Body):
    id: str
    name: str
    email: str
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"expected an IANA timezone name, got {value!r}") from exc
        return value


class TokenCostsDay(_Body):
    date: date
    token_count: int
    total_price: Price
    currency: str


class TokenCosts(_Body):
    """`/statistics/token-costs`. Dify labels every row USD, even RMB sums."""

    data: list[TokenCostsDay]


class WorkflowTokenCostsDay(_Body):
    date: date
    token_count: int  # Dify sends it as a string


class WorkflowTokenCosts(_Body):
    data: list[WorkflowTokenCostsDay]


class Member(_Body):
    id: str
    name: str
    email: str
    role: str


class WorkspaceMembers(_Body):
    accounts: list[Member]


class Workspace(_Body):
    id: str
    name: str
    status: str | None = None
    plan: str | None = None


class WorkspacesPage(ListPage):
    page: int
    limit: int
    total: int
    data: list[Workspace]


class SetupStatus(_Body):
    step: str
    setup_at: str | None = None


class ResultBody(_Body):
    """`{"result": "success"}` of login, setup and refresh-token (1.9.2+)."""

    result: str


class ErrorBody(_Body):
    code: str
    message: str
    status: int


# --- parsing with a useful error ------------------------------------------------------------------

Body = TypeVar("Body", bound=BaseModel)


def _summarize(error: ValidationError, limit: int = 3) -> str:
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(part) for part in item["loc"]) or "body"
        shown = repr(item.get("input"))
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')} (got {shown})")
    more = error.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_body(model: type[Body], data: Any, *, request: str) -> Body:
    """Validate a decoded JSON body; raise DifyResponseError naming the request, not a pydantic trace."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DifyResponseError(
            f"{request}: unexpected response from Dify (expected {model.__name__}): {_summarize(exc)}"
        ) from None
