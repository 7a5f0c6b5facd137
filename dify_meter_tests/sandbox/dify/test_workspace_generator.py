"""The generated workspace is deterministic and holds every case the issue asks for."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from dify_meter.sandbox.dify.end_user_types import DIFY_END_USER_TYPES
from dify_meter.sandbox.dify.generate import Workspace, generate_workspace
from dify_meter.sandbox.dify.tables import DEBUGGER, App, NodeExecution
from dify_meter.sandbox.dify.time import localize

START = date(2026, 11, 1)
DAYS = 7


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return generate_workspace(7, START, DAYS)


def _rows(ws: Workspace) -> list[list[object]]:
    tables = (
        ws.accounts,
        ws.apps,
        ws.app_model_configs,
        ws.workflows,
        ws.end_users,
        ws.conversations,
        ws.messages,
        ws.agent_thoughts,
        ws.workflow_runs,
        ws.node_executions,
        ws.workflow_app_logs,
    )
    return [list(table.values()) for table in tables]


def _range(ws: Workspace) -> tuple[datetime, datetime]:
    tz = ws.owner.timezone
    return localize(datetime(START.year, START.month, START.day), tz), localize(
        datetime.combine(START + timedelta(days=DAYS), datetime.min.time()), tz
    )


def _app(ws: Workspace, name: str) -> App:
    return next(a for a in ws.apps.values() if a.name == name)


def _model_ids(ws: Workspace) -> set[tuple[str, str]]:
    ids = {(c.provider, c.model_name) for c in ws.app_model_configs.values()}
    ids |= {
        (n.process_data["model_provider"], n.process_data["model_name"])
        for n in ws.node_executions.values()
        if n.process_data and "model_provider" in n.process_data
    }
    return ids


def _leaves(ws: Workspace, node_type: str) -> list[NodeExecution]:
    return [n for n in ws.node_executions.values() if n.node_type == node_type]


def test_same_seed_same_data_other_seed_other_data(ws: Workspace) -> None:
    again = generate_workspace(7, START, DAYS)
    assert _rows(again) == _rows(ws)
    assert again.tenant == ws.tenant
    assert _rows(generate_workspace(8, START, DAYS)) != _rows(ws)


def test_size_is_a_few_seconds_of_scanning(ws: Workspace) -> None:
    assert 12 <= len(ws.apps) <= 20
    assert 200 <= len(ws.conversations) <= 800
    assert 1000 <= len(ws.messages) <= 3000
    assert 150 <= len(ws.workflow_runs) <= 600
    bigger = generate_workspace(7, START, 2, scale=3.0)
    smaller = generate_workspace(7, START, 2, scale=1.0)
    assert len(bigger.messages) > 2 * len(smaller.messages)


def test_apps_of_every_mode_and_the_ones_to_skip(ws: Workspace) -> None:
    modes = defaultdict(int)
    for app in ws.apps.values():
        modes[app.mode] += 1
    for mode in ("chat", "agent-chat", "completion", "advanced-chat", "workflow"):
        assert modes[mode] >= 2, mode
    assert modes["rag-pipeline"] == 1
    assert [a.name for a in ws.apps.values() if a.status != "normal"] == ["Archived Bot"]
    archived = _app(ws, "Archived Bot")
    assert ws.conversations_of(archived.id), "a non-normal app still has data, which must not count"


def test_accounts_and_end_users_shared_by_session(ws: Workspace) -> None:
    assert ws.owner.timezone == "America/New_York"
    assert {a.role for a in ws.accounts.values()} >= {"owner", "editor", "admin", "normal"}
    apps_by_session = defaultdict(set)
    for end_user in ws.end_users.values():
        apps_by_session[end_user.session_id].add(end_user.app_id)
    assert max(len(apps) for apps in apps_by_session.values()) >= 5
    triggers = [u for u in ws.end_users.values() if u.session_id == "DEFAULT-USER"]
    assert triggers and all(u.type == "trigger" for u in triggers)


def test_provider_ids_in_both_forms_and_model_name_quirks(ws: Workspace) -> None:
    ids = _model_ids(ws)
    providers = {p for p, _ in ids}
    for old, new in (
        ("openai", "langgenius/openai/openai"),
        ("bedrock", "langgenius/bedrock/bedrock"),
        ("google", "langgenius/gemini/google"),
        ("x", "langgenius/x/x"),
        ("anthropic", "langgenius/anthropic/anthropic"),
    ):
        assert {old, new} <= providers
    assert {
        "langgenius/vertex_ai/vertex_ai",
        "langgenius/azure_openai/azure_openai",
        "langgenius/deepseek/deepseek",
        "langgenius/openrouter/openrouter",
        "langgenius/ollama/ollama",
        "someorg/someplugin/provider",
        "langgenius/tongyi/tongyi",
        "langgenius/mistralai/mistralai",
    } <= providers
    models = {m for _, m in ids}
    assert any(m.startswith("us.anthropic.") for m in models) and any(m.startswith("eu.anthropic.") for m in models)
    assert {"anthropic claude", "claude-3-haiku@20240307", "prod-gpt4o-eastus", "llama3.1:8b"} <= models
    assert any(p == "langgenius/openrouter/openrouter" and "/" in m for p, m in ids)


def test_prices_rmb_unpriced_and_missing(ws: Workspace) -> None:
    currencies = {m.metadata["usage"]["currency"] for m in ws.messages.values() if m.metadata}
    assert {"USD", "RMB"} <= currencies
    unpriced = [m for m in ws.messages.values() if m.metadata and m.metadata["usage"]["total_price"] == "0.0"]
    assert unpriced and all(m.metadata["usage"]["prompt_unit_price"] == "0.0" for m in unpriced)
    assert any(m.metadata is None for m in ws.messages.values())
    llama = _app(ws, "Local Llama")
    costs = ws.token_costs(llama.id, None, None, ws.owner.timezone)
    assert costs and {str(r.total_price) for r in costs} == {"0E-7"}
    node_currencies = {
        n.execution_metadata.get("currency") for n in ws.node_executions.values() if n.execution_metadata
    }
    assert {"USD", "RMB", "EUR"} <= node_currencies


def test_node_shapes(ws: Workspace) -> None:
    for kind in ("iteration", "loop"):
        containers = _leaves(ws, kind)
        assert containers
        for container in containers:
            children = [
                n
                for n in ws.nodes_of(container.workflow_run_id)
                if (n.execution_metadata or {}).get(f"{kind}_id") == container.node_id
            ]
            assert children and all(child.index > container.index for child in children)
            metadata = container.execution_metadata or {}
            assert metadata["total_tokens"] == sum(c.execution_metadata["total_tokens"] for c in children)
            assert Decimal(metadata["total_price"]) == sum(
                Decimal(c.execution_metadata["total_price"]) for c in children
            )
    agents = _leaves(ws, "agent")
    assert agents and all(a.process_data is None and "usage" in (a.outputs or {}) for a in agents)
    assert _leaves(ws, "question-classifier") and _leaves(ws, "parameter-extractor")
    pre_1_0 = [n for n in _leaves(ws, "llm") if n.process_data and "usage" not in n.process_data]
    assert pre_1_0 and all("usage" in (n.outputs or {}) for n in pre_1_0)
    assert any(n.process_data_truncated for n in ws.node_executions.values())


def test_workflow_runs_of_every_kind(ws: Workspace) -> None:
    runs = list(ws.workflow_runs.values())
    debugging = [r for r in runs if r.triggered_from == "debugging"]
    assert debugging and all(ws.log_of_run(r.id) is None for r in debugging)
    assert {r.triggered_from for r in runs} >= {"app-run", "debugging", "webhook", "schedule", "plugin"}
    webhook = [r for r in runs if r.triggered_from == "webhook"]
    assert all(ws.log_of_run(r.id) and ws.end_users[r.created_by].session_id == "DEFAULT-USER" for r in webhook)
    failed = [r for r in runs if r.status == "failed" and r.type == "workflow"]
    assert failed and all(any(n.process_data and "usage" in n.process_data for n in ws.nodes_of(r.id)) for r in failed)
    running = [r for r in runs if r.status == "running"]
    assert running and all(r.finished_at is None and ws.log_of_run(r.id) is None for r in running)
    for log in ws.workflow_app_logs.values():
        assert log.created_at == ws.workflow_runs[log.workflow_run_id].finished_at


def test_runs_and_conversations_crossing_midnight(ws: Workspace) -> None:
    def crosses(first: datetime, last: datetime, tz: str) -> bool:
        zone = ZoneInfo(tz)
        return first.astimezone(zone).date() != last.astimezone(zone).date()

    for tz in ("America/New_York", "UTC"):
        assert any(
            r.finished_at and crosses(r.created_at, r.finished_at, tz) and ws.log_of_run(r.id)
            for r in ws.workflow_runs.values()
        ), tz
    for tz in ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo"):
        assert any(
            len(ws.messages_of(c.id)) > 1
            and crosses(ws.messages_of(c.id)[0].created_at, ws.messages_of(c.id)[-1].created_at, tz)
            and c.name == f"Late night {tz}"
            for c in ws.conversations.values()
        ), tz


def test_chat_models_old_config_and_draft_debugger(ws: Workspace) -> None:
    support = _app(ws, "Support Chat")
    current = ws.app_model_configs[support.app_model_config_id or ""]
    start, end = _range(ws)
    conversations = ws.conversations_of(support.id)
    old = [
        c
        for c in conversations
        if ws.app_model_configs[c.app_model_config_id or ""].created_at < current.created_at
        and any(start <= m.created_at < end for m in ws.messages_of(c.id))
    ]
    assert old
    debugger = [c for c in conversations if c.invoke_from == DEBUGGER]
    assert any(ws.app_model_configs[c.app_model_config_id or ""].model_name != current.model_name for c in debugger)
    helpdesk = _app(ws, "Helpdesk Flow")
    hidden = [c for c in ws.conversations_of(helpdesk.id) if c.invoke_from == DEBUGGER]
    assert hidden and all(
        ws.workflow_runs[m.workflow_run_id or ""].triggered_from == "debugging"
        for c in hidden
        for m in ws.messages_of(c.id)
    )


def test_paging_pressure(ws: Workspace) -> None:
    start, end = _range(ws)
    support = _app(ws, "Support Chat")
    in_range = [c for c in ws.conversations_of(support.id) if c.updated_at >= start]
    assert len(in_range) > 100
    long = [c for c in ws.conversations.values() if len(ws.messages_of(c.id)) > 100]
    assert long
    messages = ws.messages_of(long[0].id)
    boundary = len(messages) - 100
    assert messages[boundary - 1].created_at == messages[boundary].created_at  # forces the first_id skip
    assert any(
        len({m.created_at for m in ws.messages_of(c.id)}) < len(ws.messages_of(c.id))
        for c in ws.conversations.values()
        if len(ws.messages_of(c.id)) <= 3
    )
    invoice = _app(ws, "Invoice Pipeline")
    assert len([log for log in ws.logs_of(invoice.id) if start <= log.created_at < end]) > 100


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="days"):
        generate_workspace(days=0)
    with pytest.raises(ValueError, match="scale"):
        generate_workspace(scale=0)
    with pytest.raises(ValueError, match="IANA"):
        generate_workspace(account_timezone="Mars/Olympus")


def test_end_users_have_only_the_types_dify_writes(ws: Workspace) -> None:
    # E4: Dify 1.16 fails a list page over any other type ('web-app' was never one: web-app users are 'browser')
    assert {end_user.type for end_user in ws.end_users.values()} == {"browser", "service-api", "trigger"}
    assert set(DIFY_END_USER_TYPES) >= {"browser", "service-api", "trigger"}
