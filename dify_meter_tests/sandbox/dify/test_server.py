"""The simulator over real loopback sockets, serving a generated workspace: paging quirks, filters,
side effects, errors, and agreement between what the API exposes and the ground truth."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from dify_meter.sandbox.dify.generate import Workspace, generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.tables import DEBUGGER, App, Conversation
from dify_meter.sandbox.dify.time import utc

pytestmark = pytest.mark.integration
START = date(2026, 11, 1)
DAYS = 7
UNKNOWN_ID = "d9000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def dify() -> Iterator[DifySimulator]:
    """A simulator no test changes (detail reads go to `fresh_dify`)."""
    with DifySimulator(generate_workspace(7, START, DAYS)) as simulator:
        yield simulator


@pytest.fixture()
def fresh_dify() -> Iterator[DifySimulator]:
    with DifySimulator(generate_workspace(7, START, 2)) as simulator:
        yield simulator


def _client(dify: DifySimulator) -> httpx.Client:
    return httpx.Client(base_url=f"{dify.base_url}/console/api", headers=dify.auth_headers(), timeout=10)


def _app(ws: Workspace, name: str) -> App:
    return next(a for a in ws.apps.values() if a.name == name)


def _get(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _pages(client: httpx.Client, path: str, limit: int = 100, **params: Any) -> list[dict[str, Any]]:
    items, page = [], 1
    while True:
        body = _get(client, path, page=page, limit=limit, **params)
        items += body["data"]
        if not body["has_more"]:
            return items
        page += 1


def test_apps_page_by_page(dify: DifySimulator) -> None:
    with _client(dify) as client:
        first = _get(client, "/apps", page=1, limit=5, mode="all")
        everything = _pages(client, "/apps", limit=5, mode="all")
    assert first["total"] == len(dify.workspace.apps) and first["has_more"] is True
    assert [a["id"] for a in everything] == [
        a.id for a in sorted(dify.workspace.apps.values(), key=lambda a: a.created_at, reverse=True)
    ]


def test_conversation_list_pages_at_100_and_refuses_101(dify: DifySimulator) -> None:
    support = _app(dify.workspace, "Support Chat")
    with _client(dify) as client:
        path = f"/apps/{support.id}/chat-conversations"
        first = _get(client, path, page=1, limit=100, start="2026-11-01 00:00")
        listed = _pages(client, path, start="2026-11-01 00:00")
        too_many = client.get(path, params={"limit": 101})
    assert first["has_more"] is True and len(first["data"]) == 100 and first["total"] > 100
    assert len({c["id"] for c in listed}) == first["total"]
    assert all(c["model_config"]["model"] is None for c in listed)
    assert [c["updated_at"] for c in listed] == sorted((c["updated_at"] for c in listed), reverse=True)
    assert too_many.status_code == 400 and too_many.json()["code"] == "invalid_param"


def test_chat_lists_show_debugger_conversations_advanced_chat_hides_them(dify: DifySimulator) -> None:
    ws = dify.workspace
    with _client(dify) as client:
        for name, shown in (("Support Chat", True), ("Helpdesk Flow", False)):
            app = _app(ws, name)
            listed = {c["id"] for c in _pages(client, f"/apps/{app.id}/chat-conversations")}
            debugger = {c.id for c in ws.conversations_of(app.id) if c.invoke_from == DEBUGGER}
            assert debugger and (debugger <= listed) is shown and (not debugger & listed) is not shown


def test_first_id_paging_skips_the_same_second_sibling(dify: DifySimulator) -> None:
    ws = dify.workspace
    long = next(c for c in ws.conversations.values() if len(ws.messages_of(c.id)) > 100)
    app_id, total = long.app_id, len(ws.messages_of(long.id))
    with _client(dify) as client:
        path = f"/apps/{app_id}/chat-messages"
        first = _get(client, path, conversation_id=long.id, limit=100)
        older = _get(client, path, conversation_id=long.id, limit=100, first_id=first["data"][0]["id"])
        boundary = first["data"][0]["created_at"]
        overlap_id = next(m["id"] for m in first["data"] if m["created_at"] > boundary)
        overlap = _get(client, path, conversation_id=long.id, limit=100, first_id=overlap_id)
        unknown = client.get(path, params={"conversation_id": long.id, "first_id": UNKNOWN_ID})
    assert len(first["data"]) == 100 and first["has_more"] is True
    times = [m["created_at"] for m in first["data"]]
    assert times == sorted(times)  # each page oldest -> newest
    assert older["has_more"] is False and len(first["data"]) + len(older["data"]) == total - 1
    recovered = {m["id"] for m in first["data"] + older["data"] + overlap["data"]}
    assert len(recovered) == total
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"


def test_chat_conversation_window_bounds(dify: DifySimulator) -> None:
    """`end` counts up to second 59 of its minute; with *updated_at sorts the filter uses updated_at."""
    ws = dify.workspace
    support = _app(ws, "Support Chat")
    conversation = next(
        c
        for c in ws.conversations_of(support.id)
        if c.updated_at - c.created_at > timedelta(minutes=5) and c.created_at.second > 0
    )
    local = conversation.created_at.astimezone(ZoneInfo(ws.owner.timezone))
    minute, next_minute = (f"{t:%Y-%m-%d %H:%M}" for t in (local, local + timedelta(minutes=1)))
    with _client(dify) as client:
        path = f"/apps/{support.id}/chat-conversations"
        in_minute = {c["id"] for c in _pages(client, path, start=minute, end=minute, sort_by="created_at")}
        by_updated = {c["id"] for c in _pages(client, path, start=next_minute, sort_by="-updated_at")}
        by_created = {c["id"] for c in _pages(client, path, start=next_minute, sort_by="-created_at")}
        malformed = client.get(path, params={"start": conversation.created_at.isoformat()})
    assert conversation.id in in_minute  # created at second > 0 of the end minute: still inside
    assert conversation.id in by_updated and conversation.id not in by_created
    assert malformed.status_code == 400 and malformed.json()["code"] == "bad_request"


def test_workflow_logs_and_runs(dify: DifySimulator) -> None:
    ws = dify.workspace
    invoice = _app(ws, "Invoice Pipeline")
    with _client(dify) as client:
        logs = _pages(client, f"/apps/{invoice.id}/workflow-app-logs")
        window = _pages(
            client,
            f"/apps/{invoice.id}/workflow-app-logs",
            created_at__after="2026-11-03T00:00:00Z",
            created_at__before="2026-11-04T00:00:00Z",
        )
        app_runs = _get(client, f"/apps/{invoice.id}/workflow-runs", triggered_from="app-run", limit=100)
        default = _get(client, f"/apps/{invoice.id}/workflow-runs", limit=100)
        not_workflow = client.get(f"/apps/{_app(ws, 'Support Chat').id}/workflow-app-logs")
    triggered = {log["workflow_run"]["triggered_from"] for log in logs}
    assert len(logs) > 100 and "webhook" in triggered and "debugging" not in triggered
    assert [log["created_at"] for log in logs] == sorted((log["created_at"] for log in logs), reverse=True)
    assert all(utc(2026, 11, 3).timestamp() <= log["created_at"] <= utc(2026, 11, 4).timestamp() for log in window)
    webhook_ids = {r.id for r in ws.runs_of(invoice.id) if r.triggered_from == "webhook"}
    assert app_runs["has_more"] is True and not webhook_ids & {r["id"] for r in app_runs["data"]}
    debugging = {r.id for r in ws.runs_of(invoice.id) if r.triggered_from == "debugging"}
    assert {r["id"] for r in default["data"]} == debugging
    assert not_workflow.status_code == 404 and not_workflow.json()["code"] == "app_not_found"


def test_token_costs_as_dify_reports_them(dify: DifySimulator) -> None:
    ws = dify.workspace
    params = {"start": "2026-11-01 00:00", "end": "2026-11-08 00:00"}
    with _client(dify) as client:
        llama = _get(client, f"/apps/{_app(ws, 'Local Llama').id}/statistics/token-costs", **params)
        rmb = _get(client, f"/apps/{_app(ws, 'Summarizer').id}/statistics/token-costs", **params)
        flow = _get(client, f"/apps/{_app(ws, 'Invoice Pipeline').id}/workflow/statistics/token-costs", **params)
    assert {d["total_price"] for d in llama["data"]} == {"0E-7"}
    assert {d["currency"] for d in rmb["data"]} == {"USD"}  # RMB rows, labelled USD by Dify
    expected = ws.workflow_token_costs(
        _app(ws, "Invoice Pipeline").id, datetime(2026, 11, 1), datetime(2026, 11, 8), ws.owner.timezone
    )
    assert flow["data"] == [{"date": str(r.date), "token_count": str(r.token_count)} for r in expected]


def test_apps_that_are_not_served(dify: DifySimulator) -> None:
    ws = dify.workspace
    archived, rag = _app(ws, "Archived Bot"), _app(ws, "Knowledge Pipeline")
    with _client(dify) as client:
        listed = {a["id"]: a["mode"] for a in _pages(client, "/apps")}
        gone = client.get(f"/apps/{archived.id}/chat-conversations")
        detail = client.get(f"/apps/{archived.id}")
        wrong_mode = client.get(f"/apps/{rag.id}/chat-conversations")
    assert listed[archived.id] == "chat" and listed[rag.id] == "rag-pipeline"
    assert gone.status_code == 404 and detail.status_code == 404
    assert wrong_mode.status_code == 404 and "not in the supported list" in wrong_mode.json()["message"]


def test_authentication(dify: DifySimulator) -> None:
    url = f"{dify.base_url}/console/api/apps"
    wrong_key = httpx.get(url, headers={**dify.auth_headers(), "Authorization": "Bearer nope"})
    no_workspace = httpx.get(url, headers={"Authorization": f"Bearer {dify.api_key}"})
    setup = httpx.get(f"{dify.base_url}/console/api/setup")
    for response in (wrong_key, no_workspace):
        assert response.status_code == 401
        assert response.json() == {"code": "unauthorized", "message": "Invalid token.", "status": 401}
    assert setup.status_code == 200 and setup.headers["X-Version"] == "1.12.1"


def test_detail_read_marks_read_and_bumps_updated_at_once(fresh_dify: DifySimulator) -> None:
    ws = fresh_dify.workspace
    support = _app(ws, "Support Chat")
    conversation = next(c for c in ws.conversations_of(support.id) if c.read_at is None)
    fresh_dify.set_now(utc(2030, 1, 1, 12))
    with _client(fresh_dify) as client:
        path = f"/apps/{support.id}/chat-conversations"
        first = _get(client, f"{path}/{conversation.id}")
        fresh_dify.set_now(utc(2030, 1, 2, 12))
        second = _get(client, f"{path}/{conversation.id}")
        top = _get(client, path, limit=1)["data"][0]
    stamp = int(utc(2030, 1, 1, 12).timestamp())
    assert first["updated_at"] == second["updated_at"] == stamp
    config = ws.app_model_configs[conversation.app_model_config_id or ""]
    assert first["model_config"]["model"] == {
        "provider": config.provider,
        "name": config.model_name,
        "mode": config.model_mode,
        "completion_params": config.completion_params,
    }
    assert (top["id"], top["read_at"]) == (conversation.id, stamp)  # the bump moved it to the top
    assert fresh_dify.detail_reads[conversation.id] == 2


def test_rows_added_while_running_are_served_and_stop_stops(fresh_dify: DifySimulator) -> None:
    ws = fresh_dify.workspace
    support = _app(ws, "Support Chat")
    template = ws.conversations_of(support.id)[0]
    added = Conversation(
        **{**template.__dict__, "id": "c9000000-0000-4000-8000-000000000001", "updated_at": utc(2031, 1, 1)}
    )
    with _client(fresh_dify) as client:
        ws.add(added)
        assert _get(client, f"/apps/{support.id}/chat-conversations", limit=1)["data"][0]["id"] == added.id
        fresh_dify.stop()
        with pytest.raises(httpx.TransportError):
            client.get("/apps")
    assert fresh_dify.errors == []


def _scan(client: httpx.Client) -> dict[str, int]:
    """Everything a careful exporter can read: {event id: total tokens} (message ids and leaf node ids)."""
    found: dict[str, int] = {}
    for app in _pages(client, "/apps", limit=20):
        base = f"/apps/{app['id']}"
        if client.get(base).status_code == 404 or app["mode"] not in (
            "chat",
            "agent-chat",
            "completion",
            "advanced-chat",
            "workflow",
        ):
            continue
        if app["mode"] == "workflow":
            for log in _pages(client, f"{base}/workflow-app-logs"):
                found |= _leaf_nodes(client, base, log["workflow_run"]["id"])
        elif app["mode"] == "completion":
            for item in _pages(client, f"{base}/completion-conversations"):
                message = _get(client, f"{base}/completion-conversations/{item['id']}")["message"]
                found[message["id"]] = message["message_tokens"] + message["answer_tokens"]
        else:
            for item in _pages(client, f"{base}/chat-conversations"):
                for message in _messages(client, base, item["id"], item["message_count"]):
                    if app["mode"] == "advanced-chat":
                        found |= _leaf_nodes(client, base, message["workflow_run_id"])
                    else:
                        found[message["id"]] = message["message_tokens"] + message["answer_tokens"]
    return found


def _messages(client: httpx.Client, base: str, conversation_id: str, expected: int) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    boundaries, first_id = [], None
    while True:
        params = {"conversation_id": conversation_id, "limit": 100} | ({"first_id": first_id} if first_id else {})
        body = _get(client, f"{base}/chat-messages", **params)
        seen |= {m["id"]: m for m in body["data"]}
        if not body["has_more"]:
            break
        first_id = body["data"][0]["id"]
        boundaries.append(body["data"][0]["created_at"])
    for boundary in boundaries if len(seen) < expected else []:  # re-page from just after each boundary
        newer = min((m for m in seen.values() if m["created_at"] > boundary), key=lambda m: m["created_at"])
        body = _get(client, f"{base}/chat-messages", conversation_id=conversation_id, limit=100, first_id=newer["id"])
        seen |= {m["id"]: m for m in body["data"]}
    assert len(seen) == expected
    return list(seen.values())


def _leaf_nodes(client: httpx.Client, base: str, run_id: str) -> dict[str, int]:
    nodes = _get(client, f"{base}/workflow-runs/{run_id}/node-executions")["data"]
    leaves = {}
    for node in nodes:
        usage = (node["process_data"] or {}).get("usage") or (node["outputs"] or {}).get("usage")
        if node["node_type"] in ("llm", "question-classifier", "parameter-extractor", "agent") and usage:
            leaves[node["id"]] = usage["prompt_tokens"] + usage["completion_tokens"]
    return leaves


def test_a_full_scan_reads_exactly_the_ground_truth() -> None:
    with DifySimulator(generate_workspace(7, START, DAYS)) as dify, _client(dify) as client:
        found = _scan(client)
        assert dify.errors == []
        assert max(dify.detail_reads.values()) == 1
    truth = dify.workspace.ground_truth(utc(2000, 1, 1), utc(2100, 1, 1), "UTC")
    assert found == {e.event_id: e.total_tokens for e in truth}
