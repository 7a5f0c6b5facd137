"""Generated traffic of message-based apps (chat, agent-chat, completion): conversations and messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from dify_meter.sandbox.dify.catalog import Usage
from dify_meter.sandbox.dify.gen_context import GenContext
from dify_meter.sandbox.dify.tables import DEBUGGER, AgentThought, App, AppModelConfig, Conversation, Message

QUESTIONS = (
    "How do I reset my password?",
    "Summarize this ticket",
    "What changed in v2?",
    "Translate to German",
    "Draft a reply",
    "Is this invoice valid?",
    "Explain the error",
    "Any update?",
    "Thanks!",
)
# Who starts a conversation: (kind, weight). Debugger = the app editor's preview, by the owner.
KINDS = (("api", 55), ("web", 25), ("explore", 10), ("debugger", 10))
MESSAGE_COUNTS = (1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 11)

ConfigAt = Callable[[datetime], AppModelConfig]


def random_conversations(ctx: GenContext, app: App, per_day: float, config_at: ConfigAt, draft: AppModelConfig) -> None:
    """About `per_day` conversations a day, each with a few messages minutes apart."""
    for day in range(ctx.days):
        for _ in range(ctx.count(per_day)):
            start = ctx.random_moment(day)
            kind = ctx.rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
            count = 1 if app.mode == "completion" else ctx.rng.choice(MESSAGE_COUNTS)
            times = message_times(ctx, start, count)
            times = [t for t in times if t < ctx.range_end] or [start]
            config = draft if kind == DEBUGGER else config_at(start)
            add_conversation(ctx, app, kind, config, times)


def message_times(ctx: GenContext, start: datetime, count: int, max_gap_seconds: int = 900) -> list[datetime]:
    times = [start]
    for _ in range(count - 1):
        times.append(times[-1] + timedelta(seconds=ctx.rng.randint(20, max_gap_seconds)))
    return times


def add_conversation(
    ctx: GenContext,
    app: App,
    kind: str,
    config: AppModelConfig,
    times: Sequence[datetime],
    *,
    name: str | None = None,
    first_without_usage: bool = False,
) -> Conversation:
    """One conversation of `kind` (api, web, explore, debugger) with a message at each of `times`."""
    end_user_id = account_id = None
    if kind in ("api", "web"):
        session = ctx.api_session() if kind == "api" else ctx.web_session()
        end_user_id = ctx.end_user(app.id, session).id
        source, invoke_from = "api", "service-api" if kind == "api" else "web-app"
    else:
        account_id = ctx.ws.owner.id if kind == DEBUGGER else ctx.member().id
        source, invoke_from = "console", kind
    conversation = Conversation(
        id=ctx.uuid(),
        app_id=app.id,
        app_model_config_id=config.id,
        mode=app.mode,
        name=name or ctx.rng.choice(QUESTIONS)[:24],
        from_source=source,
        from_end_user_id=end_user_id,
        from_account_id=account_id,
        invoke_from=invoke_from,
        created_at=times[0],
        updated_at=times[-1],
    )
    ctx.ws.add(conversation)
    history = 0
    for position, moment in enumerate(times):
        prompt_tokens = history + ctx.rng.randint(30, 600)
        usage = Usage(
            ctx.config_models[config.id], prompt_tokens, ctx.rng.randint(5, 500), round(ctx.rng.uniform(0.4, 6.0), 1)
        )
        history = min(prompt_tokens + usage.completion_tokens, 6000)
        message = _message(ctx, app, conversation, usage, moment, without_usage=first_without_usage and position == 0)
        ctx.ws.add(message)
        if app.mode == "agent-chat":
            _add_thoughts(ctx, message)
    return conversation


def _message(
    ctx: GenContext, app: App, conversation: Conversation, usage: Usage, moment: datetime, without_usage: bool
) -> Message:
    metadata: dict[str, Any] = {"annotation_reply": None, "retriever_resources": [], "usage": usage.as_json()}
    return Message(
        id=ctx.uuid(),
        app_id=app.id,
        conversation_id=conversation.id,
        query="" if app.mode == "completion" else ctx.rng.choice(QUESTIONS),
        answer="Here you go.",
        message_tokens=usage.prompt_tokens,
        answer_tokens=usage.completion_tokens,
        total_price=usage.total_price,
        currency=usage.model.currency,
        from_source=conversation.from_source,
        from_end_user_id=conversation.from_end_user_id,
        from_account_id=conversation.from_account_id,
        invoke_from=conversation.invoke_from,
        created_at=moment,
        metadata=None if without_usage else metadata,  # rows older than usage metadata have none
        model_provider=usage.model.provider,
        model_id=usage.model.name,
        provider_response_latency=usage.latency,
    )


def _add_thoughts(ctx: GenContext, message: Message) -> None:
    for position in range(1, ctx.rng.randint(1, 3) + 1):
        ctx.ws.add(
            AgentThought(
                id=ctx.uuid(),
                message_id=message.id,
                position=position,
                thought="I should look this up.",
                tool="web_search",
                tool_input='{"web_search": {"q": "..."}}',
                observation='{"web_search": "results ..."}',
                created_at=message.created_at,
            )
        )
