"""A deterministic, realistic Dify workspace for tests, benchmarks and the demo.

`generate_workspace(seed, start_date, days)` fills a `Workspace` with `days` calendar days (in the
owner's timezone) of traffic: apps of every mode with the provider-id and model-name quirks of
docs/dify-console-api.md, and every case the exporter must get right (see the comments
in `_special_cases`). The same arguments always give the same data; `scale` multiplies the
everyday traffic for benchmarks. `Workspace.ground_truth(...)` then tells what an exporter must find.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dify_meter.sandbox.dify import catalog as models
from dify_meter.sandbox.dify.catalog import Model
from dify_meter.sandbox.dify.gen_context import GenContext
from dify_meter.sandbox.dify.gen_conversations import add_conversation, message_times, random_conversations
from dify_meter.sandbox.dify.gen_workflows import (
    advanced_chat_traffic,
    docs_qa,
    helpdesk_flow,
    invoice_pipeline,
    lead_enrichment,
    midnight_crossing_runs,
    nightly_digest,
    running_run,
    workflow_run,
    workflow_traffic,
)
from dify_meter.sandbox.dify.tables import Account, App, AppModelConfig, Tenant, Workflow
from dify_meter.sandbox.dify.workspace import Workspace

__all__ = ["Workspace", "generate_workspace"]

AGENT_MODE = {"enabled": True, "strategy": "function_call", "tools": [], "max_iteration": 5}
# Timezones in which some conversations span midnight.
MIDNIGHT_TIMEZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles")
LONG_CONVERSATION_MESSAGES = 130  # more than one page of 100 messages


def generate_workspace(
    seed: int = 7,
    start_date: date | None = None,
    days: int = 7,
    *,
    account_timezone: str = "America/New_York",
    scale: float = 1.0,
) -> Workspace:
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    try:
        ZoneInfo(account_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"account_timezone must be an IANA timezone name, got {account_timezone!r}") from None
    start_date = start_date or (datetime.now(UTC).date() - timedelta(days=7))
    rng = random.Random(seed)
    ctx = GenContext(rng, Workspace(_tenant(rng, start_date)), account_timezone, start_date, days, scale)
    ctx.web_sessions = [f"web-{rng.getrandbits(24):06x}" for _ in range(20)]
    _accounts(ctx)
    _message_apps(ctx)
    _workflow_apps(ctx)
    return ctx.ws


def _tenant(rng: random.Random, start_date: date) -> Tenant:
    created = datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC) - timedelta(days=120)
    return Tenant(
        str(uuid.UUID(int=rng.getrandbits(128), version=4)), "Sandbox Workspace", "basic", "normal", created, created
    )


def _accounts(ctx: GenContext) -> None:
    created = ctx.ws.tenant.created_at
    people = [
        ("Sandbox Owner", "owner@sandbox.example", ctx.timezone, "owner"),
        ("Dana Editor", "dana@sandbox.example", "Europe/Berlin", "editor"),
        ("Ken Admin", "ken@sandbox.example", "Asia/Tokyo", "admin"),
        ("Lee Member", "lee@sandbox.example", "America/Los_Angeles", "normal"),
    ]
    for offset, (name, email, tz, role) in enumerate(people):
        joined = created + timedelta(days=offset)
        ctx.ws.add(
            Account(
                ctx.uuid(),
                name,
                email,
                tz,
                role,
                joined,
                last_login_at=ctx.midnight(0) - timedelta(hours=offset + 1),
                last_active_at=ctx.midnight(0),
                last_login_ip="127.0.0.1",
            )
        )


def _app(ctx: GenContext, name: str, mode: str, *, status: str = "normal") -> App:
    index = len(ctx.ws.apps)
    created_at = ctx.ws.tenant.created_at + timedelta(days=10, hours=index)
    app = App(ctx.uuid(), name, mode, status, ctx.ws.owner.id, created_at)
    if mode in ("workflow", "advanced-chat", "rag-pipeline"):
        workflow = Workflow(
            ctx.uuid(), app.id, "2025-01-01 00:00:00.000000", ctx.ws.owner.id, app.created_at + timedelta(minutes=10)
        )
        ctx.ws.add(workflow)
        app.workflow_id = workflow.id
    return ctx.ws.add(app)  # type: ignore[return-value]


def _config(
    ctx: GenContext, app: App, model: Model, created_at: datetime, *, current: bool = True, agent: bool = False
) -> AppModelConfig:
    config = AppModelConfig(
        ctx.uuid(),
        app.id,
        model.provider,
        model.name,
        model.mode,
        ctx.ws.owner.id,
        created_at,
        agent_mode=AGENT_MODE if agent else None,
    )
    ctx.ws.add(config)
    ctx.config_models[config.id] = model
    if current:
        app.app_model_config_id = config.id
    return config


def _switch_moment(ctx: GenContext, day: int) -> datetime:
    """When an app's published model changed: midday of generated day `day` (or the last one)."""
    return ctx.midnight(min(day, ctx.days - 1)) + timedelta(hours=12)


def _message_app(
    ctx: GenContext,
    name: str,
    mode: str,
    current: Model,
    *,
    per_day: float,
    old: Model | None = None,
    switch_day: int = 2,
    draft: Model | None = None,
    status: str = "normal",
) -> tuple[App, AppModelConfig]:
    """A chat, agent-chat or completion app; with `old`, its model changed on `switch_day`."""
    app = _app(ctx, name, mode, status=status)
    agent = mode == "agent-chat"
    switch = _switch_moment(ctx, switch_day) if old else app.created_at
    old_config = _config(ctx, app, old, app.created_at, current=False, agent=agent) if old else None
    current_config = _config(ctx, app, current, switch, agent=agent)
    # Debugger conversations run on the editor's unpublished draft model.
    draft_config = _config(ctx, app, draft, switch, current=False, agent=agent) if draft else current_config

    def config_at(moment: datetime) -> AppModelConfig:
        return old_config if old_config and moment < switch else current_config

    random_conversations(ctx, app, per_day, config_at, draft_config)
    return app, old_config or current_config


def _message_apps(ctx: GenContext) -> None:
    support, support_old = _message_app(
        ctx, "Support Chat", "chat", models.GPT_4O, per_day=18, old=models.GPT_4O_MINI_0X, draft=models.HAIKU
    )
    _message_app(ctx, "Local Llama", "chat", models.OLLAMA, per_day=3)
    _message_app(ctx, "Sales Assistant", "chat", models.AZURE_DEPLOYMENT, per_day=3)
    _message_app(ctx, "Bedrock Helper", "chat", models.BEDROCK_FAMILY, per_day=4, old=models.BEDROCK_0X, switch_day=3)
    _message_app(ctx, "Research Agent", "agent-chat", models.SONNET, per_day=5, draft=models.GPT_4O)
    _message_app(ctx, "Grok Agent", "agent-chat", models.GROK, per_day=3, old=models.GROK_0X, switch_day=1)
    _message_app(ctx, "Summarizer", "completion", models.QWEN_MAX, per_day=4)
    _message_app(ctx, "Translator", "completion", models.GEMINI, per_day=4, old=models.GEMINI_0X)
    _message_app(ctx, "Community Writer", "completion", models.COMMUNITY, per_day=2)
    _message_app(ctx, "Archived Bot", "chat", models.GPT_4O_MINI, per_day=2, status="archived")
    _special_cases(ctx, support, support_old)


def _special_cases(ctx: GenContext, app: App, old_config: AppModelConfig) -> None:
    """Conversations of Support Chat that exercise the paging and dating rules on purpose."""
    current = ctx.ws.app_model_configs[app.app_model_config_id or ""]
    last_day = ctx.days - 1
    # Started the evening before the range on the old model, continued into it; oldest row has no usage.
    for hour in (18, 20, 22):
        start = ctx.midnight(0) - timedelta(hours=24 - hour)
        add_conversation(
            ctx,
            app,
            "api",
            old_config,
            message_times(ctx, start, 6, max_gap_seconds=3600),
            name="Carried over",
            first_without_usage=hour == 18,
        )
    # More than 100 messages from 22:30 to past midnight; the message at the 100-message page
    # boundary shares its second with the next older one, so first_id paging skips one.
    start = ctx.midnight(min(1, last_day) + 1) - timedelta(minutes=90)
    times = message_times(ctx, start, LONG_CONVERSATION_MESSAGES, max_gap_seconds=90)
    boundary = LONG_CONVERSATION_MESSAGES - 100
    times[boundary - 1] = times[boundary]
    add_conversation(ctx, app, "api", current, [t for t in times if t < ctx.range_end], name="Long thread")
    # Two of three messages in the same second (a regenerated answer).
    start = ctx.random_moment(last_day)
    add_conversation(
        ctx,
        app,
        "api",
        current,
        [start, start + timedelta(seconds=5), start + timedelta(seconds=5)],
        name="Same-second messages",
    )
    # Spanning midnight in several timezones: 23:50 -> 00:04 local.
    for tz in MIDNIGHT_TIMEZONES:
        for day in range(1, ctx.days):
            start = ctx.midnight(day, tz) - timedelta(minutes=10)
            if start >= ctx.midnight(0):
                add_conversation(
                    ctx,
                    app,
                    "web",
                    current,
                    [start + timedelta(minutes=m) for m in (0, 7, 14)],
                    name=f"Late night {tz}",
                )
                break
    # A debugger conversation on the draft model, and an explore one by a member.
    draft = next(
        c for c in ctx.ws.app_model_configs.values() if c.app_id == app.id and c.id not in (current.id, old_config.id)
    )
    add_conversation(ctx, app, "debugger", draft, [ctx.random_moment(last_day)], name="Debug prompt")
    add_conversation(ctx, app, "explore", current, [ctx.random_moment(0)], name="Explore test")


def _workflow_apps(ctx: GenContext) -> None:
    helpdesk = _app(ctx, "Helpdesk Flow", "advanced-chat")
    advanced_chat_traffic(ctx, helpdesk, helpdesk_flow, per_day=5)
    docs = _app(ctx, "Docs Q&A", "advanced-chat")
    advanced_chat_traffic(ctx, docs, docs_qa, per_day=3, fail_rate=0.12)

    invoice = _app(ctx, "Invoice Pipeline", "workflow")
    workflow_traffic(
        ctx, invoice, invoice_pipeline, per_day=18, triggers={"app-run": 85, "webhook": 15}, debug_per_day=1
    )
    midnight_crossing_runs(ctx, invoice, invoice_pipeline, 0, [ctx.timezone, "UTC", "Asia/Tokyo"])
    running_run(ctx, invoice, ctx.range_end - timedelta(minutes=3))

    digest = _app(ctx, "Nightly Digest", "workflow")
    workflow_traffic(ctx, digest, nightly_digest, per_day=1.5, triggers={"app-run": 50, "plugin": 50})
    for day in range(1, ctx.days):  # the schedule fires at 23:59:35 and runs past midnight
        workflow_run(ctx, digest, nightly_digest, ctx.midnight(day) - timedelta(seconds=25), "schedule", pace=10)

    leads = _app(ctx, "Lead Enrichment", "workflow")
    workflow_traffic(ctx, leads, lead_enrichment, per_day=4, triggers={"app-run": 90, "plugin": 10})
    running_run(ctx, leads, ctx.range_end - timedelta(minutes=8))

    _app(ctx, "Knowledge Pipeline", "rag-pipeline")  # not an LLM app: the exporter skips it
