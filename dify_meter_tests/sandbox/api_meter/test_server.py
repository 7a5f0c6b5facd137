"""The reference API_Meter against docs/api-meter.md, with raw HTTP requests over loopback.

Bodies are written here by hand (json + hashlib), not by the exporter's record builder, so these
tests check the server against the contract itself.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from dify_meter.sandbox.api_meter.server import ApiMeterServer
from dify_meter.sandbox.api_meter.store import StoredKey, StoreFileError

pytestmark = pytest.mark.integration

TENANT = "12345678-1234-1234-1234-123456789abc"
TOKEN = "sandbox-api-meter-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def event_id(day: str, provider: str, model: str, tenant: str = TENANT) -> str:
    digest = hashlib.sha256(f"{tenant}|{day}|{provider}|{model}".encode()).hexdigest()
    return f"dify-{day}-{provider}-{model}-{digest[:12]}"


def next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def record(model: str = "claude-3-5-sonnet-20241022", *, day: str = "2025-12-05", cost: str = "0.105") -> dict:
    return {
        "usage_date": day,
        "provider": "anthropic",
        "model": model,
        "input_tokens": 10000,
        "output_tokens": 5000,
        "total_tokens": 15000,
        "request_count": 25,
        "cost_actual": cost,  # replaced by a raw JSON number in `body`
        "currency": "USD",
        "metadata": {
            "source_system": "dify",
            "source_event_id": event_id(day, "anthropic", model),
            "aggregation_method": "daily_sum",
            "time_range": {"start": f"{day}T00:00:00Z", "end": f"{next_day(day)}T00:00:00Z"},
        },
    }


def request(*records: dict, tenant: str = TENANT) -> dict:
    return {
        "tenant_id": tenant,
        "export_metadata": {
            "exporter_version": "0.1.0",
            "export_timestamp": "2025-12-06T01:00:03Z",
            "aggregation_period": "daily",
            "date_range": {"start": "2025-12-05T00:00:00Z", "end": "2025-12-06T00:00:00Z"},
        },
        "records": list(records),
    }


def body(payload: Any) -> bytes:
    """JSON with cost_actual strings turned into raw numbers, so exact decimals reach the server."""
    text = json.dumps(payload)
    for item in payload.get("records", []) if isinstance(payload, dict) else []:
        if isinstance(item, dict) and isinstance(item.get("cost_actual"), str):
            text = text.replace(f'"cost_actual": "{item["cost_actual"]}"', f'"cost_actual": {item["cost_actual"]}')
    return text.encode()


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[ApiMeterServer]:
    with ApiMeterServer(store_path=tmp_path / "store.sqlite") as server:
        yield server


@pytest.fixture
def post(meter: ApiMeterServer) -> Iterator[Callable[..., httpx.Response]]:
    with httpx.Client(base_url=meter.base_url, timeout=5) as client:

        def send(payload: Any, *, headers: dict[str, str] = AUTH, path: str = "/v1/usage") -> httpx.Response:
            content = payload if isinstance(payload, bytes) else body(payload)
            return client.post(path, content=content, headers=headers)

        yield send


def test_upsert_inserts_then_replaces_by_key(meter: ApiMeterServer, post: Callable[..., httpx.Response]) -> None:
    first = post(request(record("a"), record("b")))
    assert first.status_code == 200 and first.json() == {"inserted": 2, "updated": 0, "total": 2}
    second = post(request(record("a", cost="0.2"), record("c")))
    assert second.json() == {"inserted": 1, "updated": 1, "total": 2}
    held = meter.records()
    assert held[StoredKey(TENANT, "anthropic", "a", date(2025, 12, 5))].cost_actual == Decimal("0.2")
    assert held[StoredKey(TENANT, "anthropic", "b", date(2025, 12, 5))].cost_actual == Decimal("0.105")
    totals = meter.totals()
    assert (totals.records, totals.total_tokens, totals.cost_by_currency) == (3, 45000, {"USD": Decimal("0.410")})


def test_cost_is_kept_exactly(meter: ApiMeterServer, post: Callable[..., httpx.Response]) -> None:
    exact = "1234567890123456789012345678.0123456789"
    assert post(request(record(cost=exact))).status_code == 200
    (held,) = meter.records().values()
    assert held.cost_actual == Decimal(exact)


def test_only_post_v1_usage_exists(meter: ApiMeterServer, post: Callable[..., httpx.Response]) -> None:
    assert post(request(record()), path="/v1/usages").status_code == 404
    assert post(request(record()), path="/usage").status_code == 404
    with httpx.Client(base_url=meter.base_url) as client:
        assert client.get("/").status_code == 404
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            answer = client.request(method, "/v1/usage", content=b"{}" if method != "GET" else None)
            assert answer.status_code == 405 and answer.headers["Allow"] == "POST", method
    assert meter.records() == {}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
def test_missing_or_bad_token_is_401(
    meter: ApiMeterServer, post: Callable[..., httpx.Response], headers: dict[str, str]
) -> None:
    answer = post(request(record()), headers={"Content-Type": "application/json", **headers})
    assert answer.status_code == 401 and TOKEN not in answer.text
    assert meter.records() == {}


def test_a_token_not_allowed_for_the_tenant_is_403(meter: ApiMeterServer, post: Callable[..., httpx.Response]) -> None:
    other = "87654321-4321-4321-4321-cba987654321"
    item = record()
    item["metadata"]["source_event_id"] = event_id("2025-12-05", "anthropic", item["model"], tenant=other)
    answer = post(request(item, tenant=other))
    assert answer.status_code == 403 and other in answer.json()["error"]
    assert meter.records() == {}


def mutate(path: str, value: Any) -> Callable[[dict], None]:
    """Set (or with ... delete) a dotted path inside record 1 of a two-record request."""

    def apply(payload: dict) -> None:
        target: Any = payload["records"][1]
        *parents, last = path.split(".")
        for part in parents:
            target = target[part]
        if value is ...:
            del target[last]
        else:
            target[last] = value

    return apply


FIELD_RULES = [
    ("usage_date", "2025-12-5", "usage_date"),
    ("usage_date", "2025-02-30", "usage_date"),
    ("usage_date", ..., "usage_date"),
    ("provider", "", "provider"),
    ("provider", "   ", "provider"),
    ("model", ..., "model"),
    ("model", 42, "model"),
    ("input_tokens", -1, "input_tokens"),
    ("output_tokens", "5000", "output_tokens"),
    ("total_tokens", 15001, "total_tokens"),
    ("request_count", "1.5", "request_count"),  # becomes the JSON number 1.5 below
    ("request_count", True, "request_count"),
    ("request_count", ..., "request_count"),
    ("cost_actual", "-0.01", "cost_actual"),
    ("cost_actual", ..., "cost_actual"),
    ("currency", "usd", "currency"),
    ("currency", "", "currency"),
    ("metadata", ..., "metadata"),
    ("metadata.source_system", "langfuse", "metadata.source_system"),
    ("metadata.source_event_id", "", "metadata.source_event_id"),
    ("metadata.source_event_id", ..., "metadata.source_event_id"),
    ("metadata.source_app_id", 7, "metadata.source_app_id"),
    ("metadata.aggregation_method", "daily_max", "metadata.aggregation_method"),
    ("metadata.time_range.start", "2025-12-05T00:00:00", "metadata.time_range.start"),
    ("metadata.time_range.end", "2025-12-06 00:00:00Z", "metadata.time_range.end"),
    ("metadata.time_range", {"start": "2025-12-06T00:00:00Z", "end": "2025-12-05T00:00:00Z"}, "metadata.time_range"),
    ("metadata.time_range", {"start": "2025-12-07T00:00:00Z", "end": "2025-12-08T00:00:00Z"}, "metadata.time_range"),
    ("metadata.time_range", {"start": "2025-12-05T00:00:00Z", "end": "2025-12-07T00:00:00Z"}, "metadata.time_range"),
]


@pytest.mark.parametrize(("path", "value", "field"), FIELD_RULES)
def test_each_field_rule_is_a_400_naming_the_record_and_field_and_nothing_is_applied(
    meter: ApiMeterServer, post: Callable[..., httpx.Response], path: str, value: Any, field: str
) -> None:
    payload = request(record("ok"), record("broken"))
    mutate(path, value)(payload)
    content = body(payload)
    if path == "request_count" and value == "1.5":
        content = content.replace(b'"request_count": "1.5"', b'"request_count": 1.5')
    answer = post(content)
    assert answer.status_code == 400
    details = answer.json()["details"]
    assert {"index": 1, "field": field} in [{"index": d["index"], "field": d["field"]} for d in details], details
    assert all(d["index"] == 1 for d in details)
    assert meter.records() == {}  # record 0 was valid, and was not applied either


def test_a_timezone_shifted_day_is_accepted(post: Callable[..., httpx.Response]) -> None:
    item = record()
    item["metadata"]["time_range"] = {"start": "2025-12-05T00:00:00-05:00", "end": "2025-12-06T05:00:00Z"}
    assert post(request(item)).status_code == 200


def test_source_event_id_hash12_is_checked(meter: ApiMeterServer, post: Callable[..., httpx.Response]) -> None:
    item = record("m")
    right = item["metadata"]["source_event_id"]
    wrong_tenant = event_id("2025-12-05", "anthropic", "m", tenant="87654321-4321-4321-4321-cba987654321")
    assert right != wrong_tenant and right.rsplit("-", 1)[0] == wrong_tenant.rsplit("-", 1)[0]
    item["metadata"]["source_event_id"] = wrong_tenant
    answer = post(request(item))
    assert answer.status_code == 400
    (detail,) = answer.json()["details"]
    assert detail["field"] == "metadata.source_event_id" and right in detail["message"]
    assert meter.records() == {}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p.update(tenant_id="tenant-1"), "tenant_id"),
        (lambda p: p.update(records=[]), "records"),
        (lambda p: p.pop("records"), "records"),
        (lambda p: p.pop("export_metadata"), "export_metadata"),
        (
            lambda p: p["export_metadata"].update(export_timestamp="2025-12-06 01:00"),
            "export_metadata.export_timestamp",
        ),
        (lambda p: p["export_metadata"].update(aggregation_period="weekly"), "export_metadata.aggregation_period"),
        (lambda p: p["export_metadata"].update(exporter_version=""), "export_metadata.exporter_version"),
        (lambda p: p["export_metadata"]["date_range"].update(end="yesterday"), "export_metadata.date_range.end"),
    ],
)
def test_request_level_rules_are_400_with_index_null(
    post: Callable[..., httpx.Response], change: Callable[[dict], None], field: str
) -> None:
    payload = request(record())
    change(payload)
    answer = post(payload)
    assert answer.status_code == 400
    details = answer.json()["details"]
    assert {"index": None, "field": field} in [{"index": d["index"], "field": d["field"]} for d in details]


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"cost": NaN}', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_400(post: Callable[..., httpx.Response], raw: bytes) -> None:
    answer = post(raw)
    assert answer.status_code == 400 and answer.json()["details"][0]["field"] == "(body)"


def test_two_records_for_one_key_in_one_request_are_refused(post: Callable[..., httpx.Response]) -> None:
    answer = post(request(record("m"), record("m", cost="0.2")))
    assert answer.status_code == 400
    assert answer.json()["details"] == [
        {"index": 1, "field": "(key)", "message": "same usage_date, provider and model as record 0"}
    ]


def test_currency_defaults_to_usd(meter: ApiMeterServer, post: Callable[..., httpx.Response]) -> None:
    item = record()
    del item["currency"]
    assert post(request(item)).status_code == 200
    assert [held.currency for held in meter.records().values()] == ["USD"]


def test_the_store_survives_a_restart(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    with ApiMeterServer(store_path=store) as first, httpx.Client() as client:
        answer = client.post(
            f"{first.base_url}/v1/usage", content=body(request(record(cost="0.1000000001"))), headers=AUTH
        )
        assert answer.status_code == 200
        held = first.records()
    assert [p.name for p in tmp_path.iterdir()] == ["store.sqlite"]  # no journal left: the commit completed
    with ApiMeterServer(store_path=store) as second, httpx.Client() as client:
        assert second.records() == held
        again = client.post(
            f"{second.base_url}/v1/usage", content=body(request(record(cost="0.1000000001"))), headers=AUTH
        )
        assert again.json() == {"inserted": 0, "updated": 1, "total": 1}
        (stored,) = second.records().values()
        assert stored.cost_actual == Decimal("0.1000000001") and stored.writes == 2


def test_an_unreadable_store_says_what_to_do(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    store.write_text("{not json")
    with pytest.raises(StoreFileError, match="Delete it to start empty"):
        ApiMeterServer(store_path=store)


def test_fail_next_answers_5xx_n_times_without_applying(
    meter: ApiMeterServer, post: Callable[..., httpx.Response]
) -> None:
    meter.fail_next(2, status=502)
    assert [post(request(record())).status_code for _ in range(3)] == [502, 502, 200]
    assert [(e.status, e.fault) for e in meter.request_log] == [(502, "fail"), (502, "fail"), (200, None)]
    assert meter.records()[StoredKey(TENANT, "anthropic", record()["model"], date(2025, 12, 5))].writes == 1
    with pytest.raises(ValueError, match="5xx"):
        meter.fail_next(1, status=404)


def test_rate_limit_next_sends_retry_after_seconds_or_date(
    meter: ApiMeterServer, post: Callable[..., httpx.Response]
) -> None:
    meter.rate_limit_next(1, retry_after="3")
    first = post(request(record()))
    assert first.status_code == 429 and first.headers["Retry-After"] == "3"
    meter.rate_limit_next(1, retry_after=datetime(2025, 12, 6, 1, 0, 30, tzinfo=UTC))
    second = post(request(record()))
    assert second.status_code == 429 and second.headers["Retry-After"] == "Sat, 06 Dec 2025 01:00:30 GMT"
    assert post(request(record())).status_code == 200


def test_max_body_bytes_answers_413(meter: ApiMeterServer, post: Callable[..., httpx.Response]) -> None:
    content = body(request(record()))
    meter.max_body_bytes = len(content) - 1
    assert post(content).status_code == 413
    meter.max_body_bytes = len(content)
    assert post(content).status_code == 200
    assert [(e.status, e.body_bytes) for e in meter.request_log] == [(413, len(content)), (200, len(content))]


def test_slow_next_holds_the_request_past_the_client_timeout(
    meter: ApiMeterServer, post: Callable[..., httpx.Response]
) -> None:
    meter.slow_next(1, seconds=30)
    with httpx.Client(base_url=meter.base_url, timeout=0.2) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post("/v1/usage", content=body(request(record())), headers=AUTH)
    assert post(request(record())).status_code == 200  # the next request is not held


def test_drop_after_apply_applies_then_closes_without_an_answer(
    meter: ApiMeterServer, post: Callable[..., httpx.Response]
) -> None:
    meter.drop_after_apply_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        post(request(record()))
    assert meter.totals().records == 1  # it landed
    assert [(e.status, e.fault, e.records) for e in meter.request_log] == [(None, "drop_after_apply", 1)]
    assert post(request(record())).json() == {"inserted": 0, "updated": 1, "total": 1}


def test_only_loopback_addresses_are_served() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ApiMeterServer(host="0.0.0.0")


def test_ipv6_loopback() -> None:
    with ApiMeterServer(host="::1") as server, httpx.Client() as client:
        assert server.base_url.startswith("http://[::1]:")
        answer = client.post(f"{server.base_url}/v1/usage", content=body(request(record())), headers=AUTH)
        assert answer.status_code == 200


def test_the_contract_example_is_accepted_once_its_hash_is_real(post: Callable[..., httpx.Response]) -> None:
    example = copy.deepcopy(request(record()))
    example["records"][0]["metadata"]["source_app_id"] = "optional, when the record comes from one app"
    example["records"][0]["metadata"]["source_app_name"] = "optional"
    assert example["records"][0]["metadata"]["source_event_id"] == (
        "dify-2025-12-05-anthropic-claude-3-5-sonnet-20241022-191cd396f9e1"
    )
    assert post(example).status_code == 200
