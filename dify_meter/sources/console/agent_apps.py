"""Usage of Dify 1.16+ agent apps (mode `agent`, docs/agent-apps.md): every message of every conversation,
debugger included, from the Agent's log endpoints (chat-messages answers 404 for end users' conversations);
the model from the Agent's config snapshot in force when the message was written (no answer names it)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime

from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.models import App, ChatConversation, ModelRef
from dify_meter.sources.console.usage_facts import MessageUsage


@dataclass(frozen=True, slots=True)
class AgentModels:
    """The Agent's published config snapshots, oldest first: which model each one ran on."""

    since: tuple[datetime, ...]
    models: tuple[ModelRef | None, ...]

    def at(self, moment: datetime) -> ModelRef | None:
        """The model of the newest snapshot published at or before `moment`; None before the first."""
        index = bisect.bisect_right(self.since, moment) - 1
        return self.models[index] if index >= 0 else None


def agent_id_of(app: App) -> str:
    if not app.bound_agent_id:
        raise ValueError(f"{app.label} is an agent app without bound_agent_id")  # Dify lists only bound ones
    return app.bound_agent_id


def agent_models(client: DifyClient, app: App) -> AgentModels:
    agent_id = agent_id_of(app)
    details = sorted(
        (client.agent_version_detail(app, agent_id, version.id) for version in client.agent_versions(app, agent_id)),
        key=lambda detail: detail.created_at,
    )
    return AgentModels(
        tuple(detail.created_at for detail in details),
        tuple(
            ModelRef(provider=soul.model_provider, name=soul.model) if (soul := detail.config_snapshot.model) else None
            for detail in details
        ),
    )


def agent_conversation_messages(client: DifyClient, app: App, conversation: ChatConversation) -> list[MessageUsage]:
    """Every message of the conversation, each once (paged oldest first: a new one lands on the last page)."""
    messages: dict[str, MessageUsage] = {}
    for page in client.iter_agent_log_message_pages(app, agent_id_of(app), conversation.id):
        for item in page.data:
            messages.setdefault(
                item.id,
                MessageUsage(
                    item.id,
                    item.conversation_id,
                    item.created_at,
                    item.message_tokens,
                    item.answer_tokens,
                    item.total_price,
                    item.currency,
                    None,
                ),
            )
    return list(messages.values())
