"""The usage rules of docs/usage-semantics.md applied to recorded Dify records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dify_meter.sources.console.builders import (
    RunContext,
    User,
    app_log_user,
    conversation_user,
    message_event,
    node_events,
)
from dify_meter.sources.console.models import (
    App,
    AppsPage,
    ChatConversationsPage,
    CompletionConversationDetail,
    CompletionConversationsPage,
    MessagesPage,
    NodeExecutions,
    WorkflowAppLogsPage,
)
from dify_meter.sources.console.usage_facts import MessageUsage, NodeUsage, node_usages
from dify_meter_tests.support.recorded import body

NEW_YORK = ZoneInfo("America/New_York")
APPS = {app.name: app for app in AppsPage.model_validate(body("01-apps-all.json")).data}


def nodes(name: str) -> list[NodeUsage]:
    return node_usages(NodeExecutions.model_validate(body(name)).data)


def parsed_nodes(*rows: dict[str, Any]) -> list[NodeUsage]:
    return node_usages(NodeExecutions.model_validate({"data": list(rows)}).data)


def workflow_run(app: App = APPS["Invoice Pipeline"], **changes: Any) -> RunContext:
    values = dict(
        app=app,
        workflow_run_id="f1000000-0000-4000-8000-000000000001",
        occurred_at=datetime.fromtimestamp(1794326400, UTC),
        user=User("end_user", "bob@corp"),
        conversation_id=None,
        message_id=None,
    )
    return RunContext(**{**values, **changes})


def test_one_event_per_usage_bearing_leaf_node_and_agent_never_the_iteration_total() -> None:
    warnings: list[str] = []
    events = node_events(workflow_run(), nodes("06-node-executions-workflow-run.json"), timezone=UTC, warnings=warnings)
    assert [(e.event_id[-2:], e.node_type) for e in events] == [
        ("02", "question-classifier"),
        ("03", "parameter-extractor"),
        ("05", "llm"),
        ("06", "llm"),
        ("07", "agent"),
        ("08", "llm"),
    ]
    # the run's total_tokens (8146) is the sum of the leaves; adding the iteration's 2650 would double-count
    assert sum(e.total_tokens for e in events) == 8146
    assert warnings == []
    by_id = {e.event_id[-2:]: e for e in events}
    assert (by_id["05"].provider_raw, by_id["05"].model_raw) == (
        "langgenius/bedrock/bedrock",
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    )
    assert (by_id["02"].input_tokens, by_id["02"].output_tokens, by_id["02"].cost) == (380, 12, Decimal("0.00011"))


def test_an_agent_node_counts_its_outputs_usage_with_an_unknown_model() -> None:
    events = node_events(workflow_run(), nodes("06-node-executions-workflow-run.json"), timezone=UTC, warnings=[])
    agent = next(e for e in events if e.node_type == "agent")
    assert (agent.provider_raw, agent.model_raw) == ("unknown", "unknown")
    assert (agent.input_tokens, agent.output_tokens, agent.total_tokens) == (1500, 420, 1920)
    assert (agent.cost, agent.currency, agent.priced) == (Decimal("0.0079500"), "USD", True)  # from outputs.usage


def test_rmb_and_unpriced_nodes() -> None:
    events = {
        e.event_id[-2:]: e
        for e in node_events(workflow_run(), nodes("06-node-executions-workflow-run.json"), timezone=UTC, warnings=[])
    }
    rmb, openrouter = events["08"], events["03"]
    assert (rmb.cost, rmb.currency, rmb.priced) == (Decimal("0.0028000"), "RMB", True)
    assert (openrouter.cost, openrouter.currency, openrouter.priced) == (Decimal(0), "USD", False)
    assert isinstance(openrouter.cost, Decimal)


def test_node_events_carry_the_run_time_user_and_day_in_the_usage_timezone() -> None:
    late = datetime(2026, 11, 11, 3, 30, tzinfo=UTC)  # Nov 10 in New York
    events = node_events(
        workflow_run(occurred_at=late, user=User("account", "91000000-0000-4000-8000-000000000001")),
        nodes("06-node-executions-webhook-run.json"),
        timezone=NEW_YORK,
        warnings=[],
    )
    assert len(events) == 1
    event = events[0]
    assert event.occurred_at == late and event.usage_date == date(2026, 11, 10)
    assert (event.user_type, event.user_id) == ("account", "91000000-0000-4000-8000-000000000001")
    assert event.workflow_run_id == "f1000000-0000-4000-8000-000000000001" and event.source == "node"


def test_advanced_chat_nodes_sum_to_the_message_and_are_dated_by_the_message() -> None:
    message = MessagesPage.model_validate(body("03-chat-messages-advanced-chat.json")).data[0]
    conversation = ChatConversationsPage.model_validate(body("02-chat-conversations-advanced-chat.json")).data[0]
    run = RunContext(
        APPS["Helpdesk Flow"],
        message.workflow_run_id or "",
        message.created_at,
        conversation_user(conversation),
        conversation.id,
        message.id,
    )
    events = node_events(run, nodes("06-node-executions-advanced-chat-run.json"), timezone=UTC, warnings=[])
    assert [(e.provider_raw, e.model_raw) for e in events] == [
        ("anthropic", "claude-3-5-haiku-20241022"),
        ("langgenius/openai/openai", "gpt-4o"),
    ]
    assert sum(e.input_tokens for e in events) == message.message_tokens == 1760
    assert sum(e.output_tokens for e in events) == message.answer_tokens == 289
    assert message.metadata.usage is not None
    assert sum(e.cost for e in events) == message.metadata.usage.total_price == Decimal("0.0065390")
    assert {(e.occurred_at, e.message_id, e.conversation_id, e.user_id) for e in events} == {
        (message.created_at, message.id, conversation.id, "alice@corp")
    }


def test_pre_1_0_usage_in_outputs_and_price_from_usage_without_metadata() -> None:
    old_llm = {
        "id": "n1",
        "node_id": "llm",
        "node_type": "llm",
        "created_at": 1,
        "status": "succeeded",
        "process_data": {"model_provider": "openai", "model_name": "gpt-3.5-turbo"},
        "outputs": {"usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_price": "0.0001", "currency": "USD"}},
        "execution_metadata": {},
    }
    events = node_events(workflow_run(), parsed_nodes(old_llm), timezone=UTC, warnings=[])
    assert [(e.provider_raw, e.input_tokens, e.output_tokens, e.cost, e.priced) for e in events] == [
        ("openai", 10, 5, Decimal("0.0001"), True)
    ]


def test_failed_runs_count_and_nodes_without_usage_do_not() -> None:
    failed = {
        "id": "n1",
        "node_id": "llm",
        "node_type": "llm",
        "created_at": 1,
        "status": "failed",
        "process_data": {
            "model_provider": "x",
            "model_name": "y",
            "usage": {"prompt_tokens": 7, "completion_tokens": 0, "total_price": "0"},
        },
    }
    never_called = {
        "id": "n2",
        "node_id": "llm2",
        "node_type": "llm",
        "created_at": 1,
        "status": "failed",
        "process_data": None,
        "execution_metadata": {},
    }
    loop = {
        "id": "n3",
        "node_id": "loop",
        "node_type": "loop",
        "created_at": 1,
        "execution_metadata": {"total_tokens": 7, "total_price": "0.1", "currency": "USD"},
    }
    events = node_events(workflow_run(), parsed_nodes(failed, never_called, loop), timezone=UTC, warnings=[])
    assert [(e.event_id, e.total_tokens, e.priced, e.currency) for e in events] == [("n1", 7, False, None)]


def test_a_leaf_node_without_a_model_is_counted_as_unknown_with_a_warning() -> None:
    truncated = {
        "id": "n1",
        "node_id": "llm",
        "node_type": "llm",
        "created_at": 1,
        "process_data_truncated": True,
        "process_data": {"usage": {"prompt_tokens": 1, "completion_tokens": 1}},
    }
    warnings: list[str] = []
    events = node_events(workflow_run(), parsed_nodes(truncated), timezone=UTC, warnings=warnings)
    assert events[0].provider_raw == "unknown" and "names no model" in warnings[0]


def test_chat_message_events_unpriced_empty_metadata_and_rmb() -> None:
    chat = APPS["Support Chat"]
    oldest = MessagesPage.model_validate(body("03-chat-messages-limit2-page3.json")).data[0]
    event = message_event(
        chat,
        MessageUsage.of(oldest),
        user=User("end_user", "alice@corp"),
        provider="langgenius/openai/openai",
        model="gpt-4o",
        approximate=False,
        timezone=NEW_YORK,
    )
    assert (event.input_tokens, event.output_tokens, event.total_tokens) == (120, 40, 160)
    assert (event.cost, event.currency, event.priced) == (Decimal(0), None, False)  # metadata {}
    assert event.usage_date == date(2026, 11, 10) and event.source == "message" and event.node_type is None

    ollama = MessagesPage.model_validate(body("03-chat-messages-ollama-unpriced.json")).data[0]
    unpriced = message_event(
        APPS["Local Llama"],
        MessageUsage.of(ollama),
        user=User("end_user", "dev-laptop-01"),
        provider="langgenius/ollama/ollama",
        model="llama3.1:8b",
        approximate=True,
        timezone=UTC,
    )
    assert (unpriced.cost, unpriced.currency, unpriced.priced, unpriced.approximate) == (Decimal(0), "USD", False, True)

    detail = CompletionConversationDetail.model_validate(body("02-completion-conversation-detail.json"))
    rmb = message_event(
        APPS["Summarizer"],
        MessageUsage.of(detail.parsed_message),
        user=User("end_user", "carol@corp"),
        provider="langgenius/tongyi/tongyi",
        model="qwen-max",
        approximate=False,
        timezone=UTC,
    )
    assert (rmb.cost, rmb.currency, rmb.priced, rmb.total_tokens) == (Decimal("0.084"), "RMB", True, 3400)
    assert rmb.event_id == rmb.message_id == "d1000000-0000-4000-8000-00000000000b"


def test_users_of_conversations_and_app_logs() -> None:
    page = ChatConversationsPage.model_validate(body("02-chat-conversations-page1-limit2.json")).data
    assert conversation_user(page[0]) == User("end_user", "alice@corp")
    assert conversation_user(page[1]) == User("account", "63431cc7-e8b0-404a-b758-bf4be91b8823")  # debugger
    completion = CompletionConversationsPage.model_validate(body("02-completion-conversations.json")).data[0]
    assert conversation_user(completion) == User("end_user", "carol@corp")
    logs = WorkflowAppLogsPage.model_validate(body("05-workflow-app-logs-all.json")).data
    assert [app_log_user(log) for log in logs] == [
        User("end_user", "DEFAULT-USER"),
        User("account", "91000000-0000-4000-8000-000000000001"),
        User("end_user", "bob@corp"),
        User("end_user", "bob@corp"),
    ]
