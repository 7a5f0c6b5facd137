"""Injected faults as a client sees them on the socket (httpx), their counters, records and reproducibility."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from dify_meter.sandbox.dify.faults import FaultSpec, FaultSpecError
from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter_tests.support.fixture_files import SEED_FILE

pytestmark = pytest.mark.integration
SUPPORT_CHAT = "a1000000-0000-4000-8000-000000000001"
CONVERSATION = "c1000000-0000-4000-8000-000000000001"
DETAIL = f"/apps/{SUPPORT_CHAT}/chat-conversations/{CONVERSATION}"


@pytest.fixture()
def dify() -> Iterator[DifySimulator]:
    with DifySimulator(fixture_workspace(SEED_FILE)) as simulator:
        yield simulator


@pytest.fixture()
def client(dify: DifySimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{dify.base_url}/console/api", headers=dify.auth_headers(), timeout=10) as http:
        yield http


def outcomes(dify: DifySimulator) -> list[tuple[int | None, str | None]]:
    return [(record.status, record.fault) for record in dify.request_log]


def test_the_grammar() -> None:
    assert FaultSpec.parse("503:next=3") == FaultSpec("503", count=3)
    assert FaultSpec.parse("429:share=0.2:retry_after=1") == FaultSpec("429", count=None, share=0.2, retry_after=1)
    assert FaultSpec.parse("malformed:path=chat-messages:next=1:body=json") == FaultSpec(
        "malformed", path="chat-messages", body="json"
    )
    assert FaultSpec.parse("drop:after=2:seed=9:share=0.5:next=4") == FaultSpec(
        "drop", count=4, share=0.5, seed=9, after=2
    )
    assert FaultSpec.parse("truncated") == FaultSpec("truncated", count=1)
    for text, message in [
        ("418", "unknown fault kind '418'"),
        ("503:nxt=2", "expected key=value"),
        ("503:next", "expected key=value"),
        ("503:next=two", "a number is malformed"),
        ("503:share=1.5", "share must be"),
        ("503:next=0", "next must be 1 or more"),
        ("malformed:body=xml", "body must be html or json"),
    ]:
        with pytest.raises(FaultSpecError, match=message):
            FaultSpec.parse(text)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_error_statuses_for_the_next_n_requests(dify: DifySimulator, client: httpx.Client, status: int) -> None:
    dify.faults.add(f"{status}:next=2")
    answers = [client.get("/apps") for _ in range(3)]
    assert [a.status_code for a in answers] == [status, status, 200]
    assert answers[0].json()["status"] == status and answers[0].headers["X-Version"] == "1.12.1"
    assert outcomes(dify) == [(status, str(status)), (status, str(status)), (200, None)]
    assert dify.faults.injected == 2 and dify.faults.injected_by_kind == {str(status): 2}


def test_429_says_when_to_retry(dify: DifySimulator, client: httpx.Client) -> None:
    dify.faults.add(FaultSpec("429", retry_after=7))
    limited = client.get("/apps")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json() == {
        "code": "too_many_requests",
        "message": "Too many requests. Please try again later.",
        "status": 429,
    }
    assert client.get("/apps").status_code == 200


def test_a_malformed_page_is_an_html_200_and_serves_nothing(dify: DifySimulator, client: httpx.Client) -> None:
    dify.faults.add("malformed:path=chat-conversations/")
    page = client.get(DETAIL)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        page.json()
    assert dify.detail_reads == {} and outcomes(dify) == [(200, "malformed")]


def test_malformed_json_is_dify_s_answer_cut_in_half(dify: DifySimulator, client: httpx.Client) -> None:
    dify.faults.add("malformed:body=json")
    cut = client.get(DETAIL)
    whole = client.get(DETAIL)
    assert cut.headers["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        cut.json()
    assert whole.text.startswith(cut.text) and 0 < len(cut.content) < len(whole.content)
    assert dify.detail_reads == {CONVERSATION: 2}  # served: the detail read happened


def test_a_truncated_body_raises_in_the_client_after_dify_did_the_work(
    dify: DifySimulator, client: httpx.Client
) -> None:
    dify.faults.add("truncated")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(DETAIL)
    assert client.get(DETAIL).status_code == 200  # a new connection works
    assert dify.detail_reads == {CONVERSATION: 2}
    assert outcomes(dify) == [(200, "truncated"), (200, None)]


def test_a_dropped_connection_has_no_answer(dify: DifySimulator, client: httpx.Client) -> None:
    dify.faults.add("drop:next=2")
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            client.get(DETAIL)
    assert client.get(DETAIL).status_code == 200
    assert dify.detail_reads == {CONVERSATION: 1}
    assert outcomes(dify) == [(None, "drop"), (None, "drop"), (200, None)]


def test_path_filter_and_after(dify: DifySimulator, client: httpx.Client) -> None:
    dify.faults.add("503:path=/chat-messages:after=1:next=1")
    statuses = [
        client.get(path, params={"conversation_id": CONVERSATION}).status_code
        for path in (
            "/apps",
            f"/apps/{SUPPORT_CHAT}/chat-messages",
            "/apps",
            f"/apps/{SUPPORT_CHAT}/chat-messages",
            f"/apps/{SUPPORT_CHAT}/chat-messages",
        )
    ]
    assert statuses == [200, 200, 200, 503, 200]


def test_faults_are_tried_in_order_and_given_at_construction() -> None:
    with DifySimulator(fixture_workspace(SEED_FILE), faults=["502", "504:next=2"]) as dify:
        statuses = [
            httpx.get(f"{dify.base_url}/console/api/apps", headers=dify.auth_headers()).status_code for _ in range(4)
        ]
    assert statuses == [502, 504, 504, 200]


def _share_pattern(seed: int) -> list[int]:
    with (
        DifySimulator(fixture_workspace(SEED_FILE), faults=[f"503:share=0.3:seed={seed}"]) as dify,
        httpx.Client(base_url=dify.base_url, headers=dify.auth_headers()) as http,
    ):
        return [http.get("/console/api/apps").status_code for _ in range(40)]


def test_a_share_of_requests_is_reproducible_per_seed() -> None:
    first, again, other = _share_pattern(1), _share_pattern(1), _share_pattern(2)
    assert first == again and first != other
    assert set(first) == {200, 503} and 0 < first.count(503) < 40
