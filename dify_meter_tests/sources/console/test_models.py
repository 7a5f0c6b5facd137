"""Every recorded Dify 1.12.1 response parses into the model of its endpoint, with the values we read."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel

from dify_meter.sources.console.errors import (
    AppLabel,
    DifyAuthError,
    DifyHTTPError,
    DifyNotFoundError,
    DifyResponseError,
    http_error,
)
from dify_meter.sources.console.models import (
    AccountProfile,
    App,
    AppsPage,
    ChatConversationDetail,
    ChatConversationsPage,
    CompletionConversationDetail,
    CompletionConversationsPage,
    ErrorBody,
    ListPage,
    MessagesPage,
    NodeExecutions,
    ResultBody,
    SetupStatus,
    TokenCosts,
    Usage,
    WorkflowAppLogsPage,
    WorkflowRunDetail,
    WorkflowRunsPage,
    WorkflowTokenCosts,
    Workspace,
    WorkspaceMembers,
    WorkspacesPage,
    parse_body,
)
from dify_meter_tests.support.recorded import body, fixture_names, recorded

ID = r"[0-9a-f-]{36}"
MODEL_FOR: list[tuple[str, str, type[BaseModel]]] = [  # (method, path under /console/api, model); first match
    ("GET", rf"/apps/{ID}/chat-conversations/{ID}", ChatConversationDetail),
    ("GET", rf"/apps/{ID}/chat-conversations", ChatConversationsPage),
    ("GET", rf"/apps/{ID}/completion-conversations/{ID}", CompletionConversationDetail),
    ("GET", rf"/apps/{ID}/completion-conversations", CompletionConversationsPage),
    ("GET", rf"/apps/{ID}/chat-messages", MessagesPage),
    ("GET", rf"/apps/{ID}/workflow-app-logs", WorkflowAppLogsPage),
    ("GET", rf"/apps/{ID}/workflow-runs/{ID}/node-executions", NodeExecutions),
    ("GET", rf"/apps/{ID}/workflow-runs/{ID}", WorkflowRunDetail),
    ("GET", rf"/apps/{ID}/(advanced-chat/)?workflow-runs", WorkflowRunsPage),
    ("GET", rf"/apps/{ID}/statistics/token-costs", TokenCosts),
    ("GET", rf"/apps/{ID}/workflow/statistics/token-costs", WorkflowTokenCosts),
    ("GET", rf"/apps/{ID}", App),
    ("GET", r"/apps", AppsPage),
    ("GET", r"/account/profile", AccountProfile),
    ("GET", r"/all-workspaces", WorkspacesPage),
    ("GET", r"/workspaces/current/members", WorkspaceMembers),
    ("POST", r"/workspaces/current", Workspace),
    ("GET", r"/setup", SetupStatus),
    ("POST", r"/(setup|login|refresh-token)", ResultBody),
]


def model_for(method: str, path: str) -> type[BaseModel]:
    relative = path.removeprefix("/console/api")
    for route_method, pattern, model in MODEL_FOR:
        if route_method == method and re.fullmatch(pattern, relative):
            return model
    raise AssertionError(f"no model for {method} {path}")


def _app_of(path: str) -> AppLabel | None:
    match = re.match(rf"/console/api/apps/({ID})/", path)
    return AppLabel(match.group(1), "Recorded App") if match else None


def recorded_bytes(name: str) -> bytes:
    return json.dumps(body(name)).encode()


SUCCESSES = [name for name in fixture_names() if 200 <= recorded(name)["response"]["status"] < 300]
FAILURES = [name for name in fixture_names() if recorded(name)["response"]["status"] >= 300]


def test_the_recordings_are_all_covered() -> None:
    assert len(SUCCESSES) + len(FAILURES) == 84  # every recording in the folder
    assert len(FAILURES) == 13


@pytest.mark.parametrize("name", SUCCESSES)
def test_every_successful_response_parses_into_its_endpoint_model(name: str) -> None:
    exchange = recorded(name)
    model = model_for(exchange["request"]["method"], exchange["request"]["path"])
    parsed = parse_body(model, exchange["response"]["body"], request=name)
    assert isinstance(parsed, model)
    raw = exchange["response"]["body"]
    if isinstance(parsed, ListPage | NodeExecutions | TokenCosts | WorkflowTokenCosts):
        assert len(parsed.data) == len(raw["data"])
        assert [item.id for item in parsed.data if hasattr(item, "id")] == [
            item["id"] for item in raw["data"] if "id" in item
        ]


@pytest.mark.parametrize("name", FAILURES)
def test_every_error_response_parses_and_maps_to_its_error_type(name: str) -> None:
    exchange = recorded(name)
    request, response = exchange["request"], exchange["response"]
    error_body = parse_body(ErrorBody, response["body"], request=name)
    assert error_body.status == response["status"]
    app = _app_of(request["path"])
    endpoint = request["path"].removeprefix("/console/api")
    error = http_error(request["method"], endpoint, app, response["status"], recorded_bytes(name))
    expected = {401: DifyAuthError, 404: DifyNotFoundError}.get(response["status"], DifyHTTPError)
    assert type(error) is expected
    assert error.status == response["status"] and error.code == error_body.code
    assert error_body.message in str(error)
    assert f"{request['method']} {endpoint}" in str(error)
    if app:
        assert "'Recorded App'" in str(error) and app.id in str(error)


def test_a_401_tells_what_to_check_and_never_shows_the_key() -> None:
    error = http_error("GET", "/apps", None, 401, recorded_bytes("08-admin-key-without-workspace-401.json"))
    message = str(error)
    assert "Invalid token." in message
    for hint in ("DIFY_API_KEY", "DIFY_WORKSPACE_ID", "ADMIN_API_KEY_ENABLE"):
        assert hint in message


def test_which_404s_mean_the_app_is_gone() -> None:
    app = AppLabel("a1000000-0000-4000-8000-000000000001", "Support Chat")
    gone = {
        name: http_error("GET", "/x", app, 404, recorded_bytes(name)).app_gone  # type: ignore[attr-defined]
        for name in (
            "09-error-unknown-app-404.json",
            "09-error-wrong-mode-404.json",
            "09-error-unknown-first-id-404.json",
        )
    }
    assert gone == {
        "09-error-unknown-app-404.json": True,
        "09-error-wrong-mode-404.json": True,
        "09-error-unknown-first-id-404.json": False,
    }


def test_apps_give_mode_and_the_current_model() -> None:
    page = AppsPage.model_validate(body("01-apps-all.json"))
    assert page.total == 6 and not page.has_more
    assert {app.mode for app in page.data} == {"chat", "agent-chat", "completion", "advanced-chat", "workflow"}
    by_name = {app.name: app for app in page.data}
    llama = by_name["Local Llama"].current_model
    assert llama is not None and (llama.provider, llama.name) == ("langgenius/ollama/ollama", "llama3.1:8b")
    assert by_name["Invoice Pipeline"].current_model is None
    detail = App.model_validate(body("01-app-detail-chat.json"))
    assert detail.current_model is not None and detail.current_model.name == "gpt-4o"


def test_timestamps_are_aware_utc() -> None:
    page = ChatConversationsPage.model_validate(body("02-chat-conversations-page1-limit2.json"))
    first = page.data[0]
    assert first.created_at == datetime(2026, 11, 10, 14, 0, tzinfo=UTC)
    assert first.created_at.tzinfo is UTC
    assert first.message_count == 5 and first.from_end_user_session_id == "alice@corp"


def test_a_conversation_detail_gives_the_model_of_its_own_config() -> None:
    old = ChatConversationDetail.model_validate(body("02-chat-conversation-detail-0x-provider.json"))
    assert old.config is not None and old.config.model is not None
    assert (old.config.model.provider, old.config.model.name) == ("openai", "gpt-4o-mini")
    assert old.updated_at == datetime.fromtimestamp(1795824465, UTC)
    advanced = ChatConversationDetail.model_validate(body("02-chat-conversation-detail-advanced-chat.json"))
    assert advanced.config is not None and advanced.config.model is None


def test_the_completion_detail_carries_the_only_tokens_in_rmb() -> None:
    detail = CompletionConversationDetail.model_validate(body("02-completion-conversation-detail.json"))
    message = detail.parsed_message
    assert (message.message_tokens, message.answer_tokens) == (3000, 400)
    assert message.metadata.usage is not None
    assert message.metadata.usage.total_price == Decimal("0.0840000")
    assert message.metadata.usage.currency == "RMB"
    assert detail.message == body("02-completion-conversation-detail.json")["message"]  # kept verbatim


def test_message_prices_and_empty_metadata() -> None:
    priced = MessagesPage.model_validate(body("03-chat-messages-limit2-page1.json")).data[0].metadata.usage
    assert priced is not None and priced.total_price == Decimal("0.0019250")
    assert isinstance(priced.total_price, Decimal)
    oldest = MessagesPage.model_validate(body("03-chat-messages-limit2-page3.json")).data[0]
    assert oldest.metadata.usage is None
    unpriced = MessagesPage.model_validate(body("03-chat-messages-ollama-unpriced.json")).data[0].metadata.usage
    assert unpriced is not None and unpriced.total_price == 0 and unpriced.currency == "USD"


def test_statistics_decimals_and_string_token_counts() -> None:
    ollama = TokenCosts.model_validate(body("07-token-costs-ollama-unpriced-new-york.json")).data[0]
    assert ollama.total_price == 0 and str(ollama.total_price) == "0E-7" and ollama.date == date(2026, 11, 11)
    workflow = WorkflowTokenCosts.model_validate(body("07-workflow-token-costs-new-york.json")).data[0]
    assert workflow.token_count == 10646


def test_node_executions_type_usage_only_where_it_can_be() -> None:
    nodes = {
        node.id[-2:]: node for node in NodeExecutions.model_validate(body("06-node-executions-workflow-run.json")).data
    }
    classifier, iteration, agent = nodes["02"], nodes["04"], nodes["07"]
    assert classifier.may_carry_usage and classifier.typed_process_data.model_name == "claude-3-haiku@20240307"
    assert classifier.typed_metadata.total_price == Decimal("0.0001100")
    assert not iteration.may_carry_usage
    assert agent.typed_process_data.usage is None and agent.typed_process_data.model_provider is None
    assert agent.typed_outputs.usage is not None and agent.typed_outputs.usage.prompt_tokens == 1500


def test_a_code_node_may_output_a_variable_called_usage() -> None:
    node = {"id": "n", "node_id": "code", "node_type": "code", "created_at": 1, "outputs": {"usage": "high"}}
    parsed = NodeExecutions.model_validate({"data": [node]}).data[0]
    assert not parsed.may_carry_usage and parsed.outputs == {"usage": "high"}


def test_prices_are_exact_decimals_from_strings_ints_and_json_numbers() -> None:
    def price(value: object) -> Decimal | None:
        return Usage.model_validate({"prompt_tokens": 1, "completion_tokens": 1, "total_price": value}).total_price

    assert price("0.0000375") == Decimal("0.0000375")
    assert price(0.0011) == Decimal("0.0011")  # the JSON literal, not the binary float
    assert price(2) == Decimal(2)
    for bad in ("abc", True, "NaN", "Infinity", [1]):
        with pytest.raises(ValueError, match="decimal string"):
            price(bad)


def test_a_malformed_body_names_the_request_and_the_field() -> None:
    broken = body("03-chat-messages-limit2-page1.json")
    broken["data"][1]["created_at"] = "yesterday"
    del broken["data"][0]["message_tokens"]
    request = "GET /apps/{id}/chat-messages for app 'Support Chat' (a1000000-0000-4000-8000-000000000001)"
    with pytest.raises(DifyResponseError) as caught:
        parse_body(MessagesPage, broken, request=request)
    message = str(caught.value)
    assert message.startswith(request)
    assert "data.0.message_tokens: Field required" in message
    assert "data.1.created_at: expected Unix seconds (a number), got 'yesterday'" in message


def test_the_account_timezone_must_be_an_iana_name() -> None:
    profile = body("07-account-profile-new-york.json")
    assert AccountProfile.model_validate(profile).timezone == "America/New_York"
    profile["timezone"] = "Mars/Olympus"
    with pytest.raises(DifyResponseError, match="timezone: expected an IANA timezone name, got 'Mars/Olympus'"):
        parse_body(AccountProfile, profile, request="GET /account/profile")
