"""The rows Dify 1.16 writes for a New Agent app: at creation (`POST /console/api/agent`, `10-agent-create.json`
of the 1.16.1 recording: app, model-less config, roster Agent, config snapshot, site, the creator's debug
conversation) and when two of its GETs are read (from source, not recorded: `AgentRosterService.
get_or_create_agent_app_debug_conversation_id` for `GET /agent/{id}`, `AgentComposerService.
_get_or_create_agent_draft` for `GET /agent/{id}/composer`)."""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import datetime

from dify_meter.sandbox.dify.tables import (
    DEBUGGER,
    AgentConfigDraft,
    AgentConfigSnapshot,
    AgentDebugConversation,
    App,
    AppModelConfig,
    Conversation,
    Site,
)
from dify_meter.sandbox.dify.workspace import Workspace

DEBUG_CONVERSATION_NAME = "Agent Debugging Conversation"


@dataclass(frozen=True)
class AgentAppIds:
    """The ids creating an agent app generates (Dify: uuid4/uuid7 and a 16-letter site code)."""

    app_id: str
    agent_id: str
    config_id: str
    snapshot_id: str
    site_code: str

    @classmethod
    def new(cls) -> AgentAppIds:
        letters = string.ascii_letters + string.digits
        code = "".join(secrets.choice(letters) for _ in range(16))
        return cls(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), code)


@dataclass(frozen=True)
class AgentAppFields:
    """What `POST /console/api/agent` takes."""

    name: str
    description: str = ""
    role: str = ""
    icon_type: str = "emoji"
    icon: str = "🤖"
    icon_background: str = "#FFEAD5"


def create_agent_app(
    ws: Workspace,
    fields: AgentAppFields,
    ids: AgentAppIds,
    account_id: str,
    at: datetime,
    *,
    updated_at: datetime | None = None,
) -> App:
    """The rows `AppService.create_app(mode="agent")` writes; the creator's debug conversation comes with the
    detail it answers (`debug_conversation_id`)."""
    app = App(
        id=ids.app_id,
        name=fields.name,
        mode="agent",
        status="normal",
        created_by=account_id,
        created_at=at,
        app_model_config_id=ids.config_id,
        description=fields.description,
        icon_type=fields.icon_type,
        icon=fields.icon,
        icon_background=fields.icon_background,
        bound_agent_id=ids.agent_id,
        agent_role=fields.role,
        updated_at=updated_at,
    )
    with ws.lock:
        ws.add(app)
        ws.add(AppModelConfig(ids.config_id, app.id, None, None, None, account_id, at, {}, None))
        ws.add(AgentConfigSnapshot(ids.snapshot_id, ids.agent_id, 1, None, None, account_id, at))
        ws.add(Site(app.id, ids.site_code, app.name, app.icon_type, app.icon, app.icon_background, account_id, at))
    return app


def debug_conversation_of(
    ws: Workspace, app: App, account_id: str, at: datetime, conversation_id: str | None = None
) -> Conversation:
    """The account's debug conversation of the agent app, created (with its link row) when it has none."""
    with ws.lock:
        link = next(
            (d for d in ws.agent_debug_conversations.values() if d.app_id == app.id and d.account_id == account_id),
            None,
        )
        if link is not None:
            return ws.conversations[link.conversation_id]
        conversation = Conversation(
            id=conversation_id or str(uuid.uuid4()),
            app_id=app.id,
            app_model_config_id=None,
            mode="agent",
            name=DEBUG_CONVERSATION_NAME,
            from_source="console",
            from_end_user_id=None,
            from_account_id=account_id,
            invoke_from=DEBUGGER,
            created_at=at,
            updated_at=at,
        )
        ws.add(conversation)
        ws.add(
            AgentDebugConversation(str(uuid.uuid4()), app.bound_agent_id or "", app.id, account_id, conversation.id, at)
        )
        return conversation


def draft_of(ws: Workspace, app: App, at: datetime) -> AgentConfigDraft:
    """The Agent's draft config, created by the Agent's last editor (its creator here) when none exists."""
    with ws.lock:
        draft = next((d for d in ws.agent_drafts.values() if d.agent_id == app.bound_agent_id), None)
        if draft is None:
            draft = AgentConfigDraft(str(uuid.uuid4()), app.bound_agent_id or "", app.created_by, at)
            ws.add(draft)
        return draft
