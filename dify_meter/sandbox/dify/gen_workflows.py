"""Generated traffic of workflow and advanced-chat apps: what each app's graph runs, and how often."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from dify_meter.sandbox.dify import catalog as models
from dify_meter.sandbox.dify.gen_context import TRIGGER_SESSION, GenContext
from dify_meter.sandbox.dify.gen_conversations import KINDS, MESSAGE_COUNTS, QUESTIONS, message_times
from dify_meter.sandbox.dify.gen_runs import Creator, RunBuilder
from dify_meter.sandbox.dify.tables import DEBUGGER, App, Conversation, Message, WorkflowRun

# A recipe lays out one run's nodes; `fail` asks it to fail part-way (after some model calls).
# It returns the run's (status, error).
Recipe = Callable[[RunBuilder, str, bool], tuple[str, str | None]]
START_NODES = {
    "app-run": "start",
    "debugging": "start",
    "webhook": "trigger-webhook",
    "schedule": "trigger-schedule",
    "plugin": "trigger-plugin",
}
FAILURE = "Node {} run failed: division by zero"


def _start(b: RunBuilder, trigger: str) -> None:
    node_type = START_NODES[trigger]
    b.step(node_type, node_type.replace("-", "_"), node_type.replace("-", " ").title(), {"sys.user_id": "..."})


def _fail(b: RunBuilder, title: str) -> tuple[str, str | None]:
    error = FAILURE.format(title)
    b.step("code", "validate", title, status="failed", error=error)
    return "failed", error


def invoice_pipeline(b: RunBuilder, trigger: str, fail: bool) -> tuple[str, str | None]:
    rng = b.ctx.rng
    _start(b, trigger)
    b.call("question-classifier", "classify", "Classify invoice", models.VERTEX_HAIKU)
    b.call("parameter-extractor", "extract", "Extract fields", models.OPENROUTER_HAIKU)
    b.container(
        "iteration",
        "lines",
        "Per line item",
        rng.randint(1, 3),
        lambda i: b.call("llm", "line_llm", "Check line", models.BEDROCK_US, within=("iteration", "lines", i)),
    )
    if fail:
        return _fail(b, "Validate totals")
    b.call("agent", "research", "Vendor lookup agent", None)
    b.call("llm", "write", "Write summary", models.QWEN_PLUS)
    b.step("end", "end", "End", {"result": "..."})
    return "succeeded", None


def nightly_digest(b: RunBuilder, trigger: str, fail: bool) -> tuple[str, str | None]:
    _start(b, trigger)
    b.step("http-request", "fetch", "Fetch feeds", {"status_code": 200})
    b.call("llm", "summarize", "Summarize", models.DEEPSEEK)
    b.call("llm", "polish", "Polish locally", models.OLLAMA)
    if fail:
        return _fail(b, "Format digest")
    b.call("llm", "tag", "Tag topics", b.ctx.rng.choice([models.BEDROCK_FAMILY, models.BEDROCK_NOVA]))
    b.step("end", "end", "End", {"result": "..."})
    return "succeeded", None


def lead_enrichment(b: RunBuilder, trigger: str, fail: bool) -> tuple[str, str | None]:
    _start(b, trigger)
    b.container(
        "loop",
        "refine",
        "Refine profile",
        b.ctx.rng.randint(1, 3),
        lambda i: b.call("llm", "refine_llm", "Refine", models.GROK, within=("loop", "refine", i)),
    )
    b.call("llm", "draft", "Draft email (EU)", models.MISTRAL_EUR)
    if fail:
        return _fail(b, "Score lead")
    b.call("parameter-extractor", "fields", "Extract fields", models.COMPATIBLE)
    b.call("llm", "legacy", "Legacy scorer", models.GPT_4O_MINI_0X, shape="0.x")  # a node saved before 1.0
    b.step("end", "end", "End", {"result": "..."})
    return "succeeded", None


def helpdesk_flow(b: RunBuilder, trigger: str, fail: bool) -> tuple[str, str | None]:
    rng = b.ctx.rng
    _start(b, trigger)
    b.call("question-classifier", "route", "Route", models.HAIKU_0X)
    if rng.random() < 0.25:
        # an older version of the flow: the same model, saved with the 0.x provider id
        b.call("llm", "answer_llm", "Answer LLM", models.GPT_4O_0X, shape="0.x")
    else:
        b.call("llm", "answer_llm", "Answer LLM", models.GPT_4O)
    if rng.random() < 0.4:
        b.call("parameter-extractor", "ticket", "Ticket fields", models.DEEPSEEK)
    if fail:
        return _fail(b, "Create ticket")
    b.step("answer", "answer", "Answer", {"answer": "..."})
    return "succeeded", None


def docs_qa(b: RunBuilder, trigger: str, fail: bool) -> tuple[str, str | None]:
    rng = b.ctx.rng
    _start(b, trigger)
    b.step("knowledge-retrieval", "retrieve", "Retrieve docs", {"result": []})
    b.container(
        "iteration",
        "subq",
        "Sub-questions",
        rng.randint(2, 3),
        lambda i: b.call("llm", "subq_llm", "Answer part", models.OPENROUTER_LLAMA, within=("iteration", "subq", i)),
    )
    b.container(
        "loop",
        "verify",
        "Verify",
        rng.randint(1, 2),
        lambda i: b.call("llm", "verify_llm", "Check", models.VERTEX_HAIKU, within=("loop", "verify", i)),
    )
    b.call("agent", "research", "Research agent", None)
    compose = rng.choice([models.GEMINI, models.BEDROCK_EU])
    b.call("llm", "compose", "Compose", compose, shape="truncated" if rng.random() < 0.2 else "1.x")
    if fail:
        return _fail(b, "Format answer")
    b.step("answer", "answer", "Answer", {"answer": "..."})
    return "succeeded", None


def _creator(ctx: GenContext, app: App, trigger: str) -> Creator:
    if trigger == "debugging":
        return Creator("account", ctx.ws.owner.id, "installed-app")
    if trigger != "app-run":
        return Creator("end_user", ctx.end_user(app.id, TRIGGER_SESSION).id, "service-api")
    who = ctx.rng.random()
    if who < 0.25:
        return Creator("account", ctx.member().id, "installed-app")
    if who < 0.45:
        return Creator("end_user", ctx.end_user(app.id, ctx.web_session()).id, "web-app")
    return Creator("end_user", ctx.end_user(app.id, ctx.api_session()).id, "service-api")


def workflow_run(
    ctx: GenContext, app: App, recipe: Recipe, start: datetime, trigger: str, *, fail: bool = False, pace: float = 2.0
) -> WorkflowRun:
    builder = RunBuilder(ctx, app, _creator(ctx, app, trigger), start, triggered_from=trigger, pace=pace)
    status, error = recipe(builder, trigger, fail)
    return builder.finish(status=status, error=error)


def workflow_traffic(
    ctx: GenContext,
    app: App,
    recipe: Recipe,
    per_day: float,
    triggers: dict[str, int],
    debug_per_day: float = 0.5,
    fail_rate: float = 0.06,
) -> None:
    for day in range(ctx.days):
        for _ in range(ctx.count(per_day)):
            trigger = ctx.rng.choices(list(triggers), list(triggers.values()))[0]
            workflow_run(ctx, app, recipe, ctx.random_moment(day), trigger, fail=ctx.rng.random() < fail_rate)
        for _ in range(ctx.count(debug_per_day)):
            workflow_run(ctx, app, recipe, ctx.random_moment(day), "debugging")


def running_run(ctx: GenContext, app: App, start: datetime) -> WorkflowRun:
    """A run still in progress at the end of the range: some usage already, no app log yet."""
    builder = RunBuilder(ctx, app, _creator(ctx, app, "app-run"), start, triggered_from="app-run")
    _start(builder, "app-run")
    builder.call("llm", "first", "First step", models.GPT_4O)
    builder.in_progress("llm", "second", "Second step")
    return builder.finish(status="running")


def advanced_chat_traffic(ctx: GenContext, app: App, recipe: Recipe, per_day: float, fail_rate: float = 0.05) -> None:
    for day in range(ctx.days):
        for _ in range(ctx.count(per_day)):
            kind = ctx.rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
            times = message_times(ctx, ctx.random_moment(day), ctx.rng.choice(MESSAGE_COUNTS[:8]))
            advanced_chat_conversation(
                ctx, app, recipe, kind, [t for t in times if t < ctx.range_end], fail_rate=fail_rate
            )


def _conversation_creator(ctx: GenContext, app: App, kind: str) -> tuple[Creator, str]:
    """Who starts a conversation of `kind`, and the conversation's invoke_from."""
    if kind == "api":
        return Creator("end_user", ctx.end_user(app.id, ctx.api_session()).id, "service-api"), "service-api"
    if kind == "web":
        return Creator("end_user", ctx.end_user(app.id, ctx.web_session()).id, "web-app"), "web-app"
    if kind == "explore":
        return Creator("account", ctx.member().id, "installed-app"), "explore"
    return Creator("account", ctx.ws.owner.id, "installed-app"), DEBUGGER


def advanced_chat_conversation(
    ctx: GenContext, app: App, recipe: Recipe, kind: str, times: list[datetime], fail_rate: float = 0.0
) -> Conversation:
    """An advanced-chat conversation: every message is the answer of its own workflow run."""
    creator, invoke_from = _conversation_creator(ctx, app, kind)
    by_end_user = creator.role == "end_user"
    conversation = Conversation(
        id=ctx.uuid(),
        app_id=app.id,
        app_model_config_id=None,
        mode=app.mode,
        name=ctx.rng.choice(QUESTIONS)[:24],
        from_source="api" if by_end_user else "console",
        from_end_user_id=creator.id if by_end_user else None,
        from_account_id=None if by_end_user else creator.id,
        invoke_from=invoke_from,
        created_at=times[0],
        updated_at=times[-1],
    )
    ctx.ws.add(conversation)
    trigger = "debugging" if kind == DEBUGGER else "app-run"
    for moment in times:
        builder = RunBuilder(ctx, app, creator, moment, triggered_from=trigger)
        status, error = recipe(builder, trigger, ctx.rng.random() < fail_rate)
        run = builder.finish(status=status, error=error, run_type="chat")
        ctx.ws.add(_run_message(ctx, app, conversation, run, builder, error))
    return conversation


def _run_message(
    ctx: GenContext, app: App, conversation: Conversation, run: WorkflowRun, builder: RunBuilder, error: str | None
) -> Message:
    """The chat message of an advanced-chat run: its tokens and price are the sums of the run's calls."""
    prompt = sum(c.prompt_tokens for c in builder.calls)
    completion = sum(c.completion_tokens for c in builder.calls)
    price = sum((c.total_price for c in builder.calls), Decimal("0E-7"))
    zero = "0.0"
    usage = {
        "prompt_tokens": prompt,
        "prompt_unit_price": zero,
        "prompt_price_unit": zero,
        "prompt_price": zero,
        "completion_tokens": completion,
        "completion_unit_price": zero,
        "completion_price_unit": zero,
        "completion_price": zero,
        "total_tokens": prompt + completion,
        "total_price": format(price, "f") if price else zero,
        "currency": "USD",
        "latency": run.elapsed_time,
        "time_to_first_token": None,
        "time_to_generate": None,
    }
    return Message(
        id=ctx.uuid(),
        app_id=app.id,
        conversation_id=conversation.id,
        query=ctx.rng.choice(QUESTIONS),
        answer="" if error else "Here you go.",
        message_tokens=prompt,
        answer_tokens=completion,
        total_price=price,
        currency="USD",
        from_source=conversation.from_source,
        from_end_user_id=conversation.from_end_user_id,
        from_account_id=conversation.from_account_id,
        invoke_from=conversation.invoke_from,
        created_at=run.created_at,
        metadata={"annotation_reply": None, "retriever_resources": [], "usage": usage},
        workflow_run_id=run.id,
        provider_response_latency=run.elapsed_time,
        status="error" if error else "normal",
        error=error,
    )


def midnight_crossing_runs(ctx: GenContext, app: App, recipe: Recipe, day: int, timezones: list[str]) -> None:
    """Runs that start just before midnight (in each timezone) and end after it."""
    for tz in timezones:
        start = ctx.midnight(day + 1, tz) - timedelta(seconds=25)
        if ctx.midnight(0) <= start < ctx.range_end - timedelta(minutes=5):
            workflow_run(ctx, app, recipe, start, "app-run", pace=8.0)
