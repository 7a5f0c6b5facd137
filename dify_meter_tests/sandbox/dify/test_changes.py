"""Lists that change between page requests (hooks + `dify_changes`), answers instead of Dify, and the record
kept of every request; on the recorded fixture workspace over loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dify_meter.sandbox.dify.changes import add_conversation, add_messages, add_workflow_runs
from dify_meter.sandbox.dify.exchange import RequestRecord
from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.time import utc
from dify_meter.sandbox.loopback import Request
from dify_meter_tests.support.fixture_files import SEED_FILE

pytestmark = pytest.mark.integration
SUPPORT_CHAT, SUMMARIZER = "a1000000-0000-4000-8000-000000000001", "a1000000-0000-4000-8000-000000000003"
HELPDESK, INVOICE = "a1000000-0000-4000-8000-000000000004", "a1000000-0000-4000-8000-000000000005"
PRINTER_BROKEN = "c1000000-0000-4000-8000-000000000009"  # advanced-chat, one message with a run
SUMMARY = "c1000000-0000-4000-8000-000000000007"  # completion
NOV_20 = utc(2026, 11, 20, 9)
CONVERSATIONS = f"/apps/{SUPPORT_CHAT}/chat-conversations"


@pytest.fixture()
def dify() -> Iterator[DifySimulator]:
    with DifySimulator(fixture_workspace(SEED_FILE)) as simulator:
        yield simulator


@pytest.fixture()
def client(dify: DifySimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{dify.base_url}/console/api", headers=dify.auth_headers(), timeout=10) as http:
        yield http


def get(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["data"]]


def truth_ids(dify: DifySimulator) -> set[str]:
    return {event.event_id for event in dify.workspace.ground_truth(utc(2026, 11, 20), utc(2026, 11, 21), "UTC")}


def test_a_conversation_that_gets_a_message_between_two_pages_jumps_to_the_front(
    dify: DifySimulator, client: httpx.Client
) -> None:
    before = ids(get(client, CONVERSATIONS, limit=100))
    last = before[-1]
    dify.mutate_on("/chat-conversations", 1, lambda ws: add_messages(ws, last, [NOV_20]))
    page_1 = ids(get(client, CONVERSATIONS, page=1, limit=2))
    page_2 = ids(get(client, CONVERSATIONS, page=2, limit=2))
    after = get(client, CONVERSATIONS, limit=100)
    assert page_1 == before[:2]  # the answer that triggered the change does not show it
    assert page_2 == before[1:3]  # everything after the mover shifted by one: before[1] comes twice
    assert ids(after) == [last, *before[:-1]] and after["total"] == len(before)
    assert after["data"][0]["updated_at"] == int(NOV_20.timestamp())
    new_message = dify.workspace.messages_of(last)[-1]
    assert new_message.created_at == NOV_20 and truth_ids(dify) == {new_message.id}


def test_a_new_conversation_appears_on_the_next_page_request(dify: DifySimulator, client: httpx.Client) -> None:
    added: list[str] = []

    def on_page_1(record: RequestRecord) -> bool:
        return record.path.endswith("/chat-conversations") and record.query.get("page") == "1" and not added

    dify.after_request(
        on_page_1, lambda _: added.append(add_conversation(dify.workspace, SUPPORT_CHAT, [NOV_20, NOV_20]).id)
    )
    first = get(client, CONVERSATIONS, page=1, limit=2)
    second = get(client, CONVERSATIONS, page=2, limit=2)
    messages = get(client, f"/apps/{SUPPORT_CHAT}/chat-messages", conversation_id=added[0], limit=100)
    assert second["total"] == first["total"] + 1
    assert get(client, CONVERSATIONS, page=1, limit=1)["data"][0]["id"] == added[0]
    assert [m["created_at"] for m in messages["data"]] == [int(NOV_20.timestamp())] * 2
    assert truth_ids(dify) == set(ids(messages))


def test_new_workflow_runs_come_with_their_logs_and_nodes(dify: DifySimulator, client: httpx.Client) -> None:
    logs = f"/apps/{INVOICE}/workflow-app-logs"
    before = get(client, logs, limit=100)
    dify.mutate_on("workflow-app-logs", 1, lambda ws: add_workflow_runs(ws, INVOICE, [NOV_20]))
    get(client, logs, page=1, limit=1)
    after = get(client, logs, limit=100)
    newest = after["data"][0]["workflow_run"]
    nodes = get(client, f"/apps/{INVOICE}/workflow-runs/{newest['id']}/node-executions")["data"]
    template = dify.workspace.workflow_runs[before["data"][0]["workflow_run"]["id"]]
    assert after["total"] == before["total"] + 1 and newest["created_at"] == int(NOV_20.timestamp())
    assert len(nodes) == len(dify.workspace.nodes_of(template.id)) > 0
    assert truth_ids(dify) and truth_ids(dify) <= {node["id"] for node in nodes}


def test_an_advanced_chat_message_comes_with_its_own_run(dify: DifySimulator, client: httpx.Client) -> None:
    [message] = add_messages(dify.workspace, PRINTER_BROKEN, [NOV_20])
    listed = get(client, f"/apps/{HELPDESK}/chat-messages", conversation_id=PRINTER_BROKEN, limit=100)["data"]
    nodes = get(client, f"/apps/{HELPDESK}/workflow-runs/{message.workflow_run_id}/node-executions")["data"]
    template_run = listed[0]["workflow_run_id"]
    assert listed[-1]["id"] == message.id and message.workflow_run_id != template_run
    assert [n["node_type"] for n in nodes] == [n.node_type for n in dify.workspace.nodes_of(template_run)]
    assert truth_ids(dify) == {n["id"] for n in nodes if n["node_type"] in ("llm", "question-classifier")}


def test_changes_are_refused_where_dify_could_not_make_them() -> None:
    ws = fixture_workspace(SEED_FILE)
    with pytest.raises(ValueError, match="exactly one message"):
        add_conversation(ws, SUMMARIZER, [NOV_20, NOV_20])
    with pytest.raises(ValueError, match="only chat conversations"):
        add_messages(ws, SUMMARY, [NOV_20])
    with pytest.raises(ValueError, match="no logged workflow run"):
        add_workflow_runs(ws, SUPPORT_CHAT, [NOV_20])
    assert add_conversation(ws, SUMMARIZER, [NOV_20]).mode == "completion"


def test_the_same_changes_give_the_same_ids() -> None:
    made = []
    for _ in range(2):
        ws = fixture_workspace(SEED_FILE)
        conversation = add_conversation(ws, SUPPORT_CHAT, [NOV_20])
        made.append(
            (
                conversation.id,
                [m.id for m in ws.messages_of(conversation.id)],
                [r.id for r in add_workflow_runs(ws, INVOICE, [NOV_20])],
            )
        )
    assert made[0] == made[1]


def test_intercept_answers_instead_of_dify(dify: DifySimulator, client: httpx.Client) -> None:
    def gone(request: Request) -> tuple[int, Any] | None:
        if request.path.endswith("/chat-conversations"):
            return 404, {"code": "app_not_found", "message": "App not found.", "status": 404}
        return None

    dify.intercept(gone)
    refused = client.get(CONVERSATIONS)
    apps = client.get("/apps")
    dify.clear_hooks()
    assert (refused.status_code, refused.headers["X-Version"], apps.status_code) == (404, "1.12.1", 200)
    assert client.get(CONVERSATIONS).status_code == 200
    assert [(r.status, r.fault) for r in dify.request_log] == [(404, None), (200, None), (200, None)]


def test_a_failing_hook_is_kept_for_the_test_and_the_answer_still_goes_out(
    dify: DifySimulator, client: httpx.Client
) -> None:
    def broken(record: RequestRecord) -> None:
        raise RuntimeError("hook bug")

    dify.after_request(lambda record: True, broken)
    assert client.get("/apps").status_code == 200
    assert [str(error) for error in dify.errors] == ["hook bug"]


def test_the_record_of_every_request(dify: DifySimulator, client: httpx.Client) -> None:
    client.get("/apps", params={"page": "2", "limit": "1"})
    httpx.get(f"{dify.base_url}/console/api/setup")
    httpx.get(f"{dify.base_url}/console/api/apps")
    client.post("/apps")
    dify.faults.add("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/apps")
    assert dify.request_log == [
        RequestRecord("GET", "/console/api/apps", {"page": "2", "limit": "1"}, "admin_key", 200, None),
        RequestRecord("GET", "/console/api/setup", {}, None, 200, None),
        RequestRecord("GET", "/console/api/apps", {}, None, 401, None),
        RequestRecord("POST", "/console/api/apps", {}, None, 405, None),
        RequestRecord("GET", "/console/api/apps", {}, None, None, "drop"),
    ]
    method, path, query = dify.request_log[0]  # the (method, path, query) shape of older records
    assert (method, path, query["page"], dify.request_log[1][1]) == (
        "GET",
        "/console/api/apps",
        "2",
        "/console/api/setup",
    )
    assert dify.requests_to("/setup") == [dify.request_log[1]]
