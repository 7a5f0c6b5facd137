"""Prove API_METER_URL, API_METER_TOKEN and API_METER_TENANT_ID work, without storing anything.

The contract (docs/api-meter.md) has no read endpoint, and every valid POST /v1/usage writes.
But a request whose `records` list is empty is always refused with 400, so it can never store anything.
The reference server (dify_meter/sandbox/api_meter/server.py, `_apply`) checks the token (401), then the
tenant (403), and only then the body (400): there, a 400 that complains only about the empty list proves
that the URL, the token and the tenant were all accepted. The contract does not fix that order, so two
control requests, also with empty lists, show that this server follows it: without a token it must
answer 401, and for a tenant nobody has (the nil UUID) 403. If it does not, the check says which part
it could not prove instead of claiming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx

from dify_meter import __version__
from dify_meter.api_meter.explanations import explain
from dify_meter.api_meter.records import build_request
from dify_meter.core.api_meter_contract import USAGE_PATH
from dify_meter.settings import Settings

NOBODYS_TENANT = "00000000-0000-0000-0000-000000000000"
CHECK_TIMEOUT_SECONDS = 15.0


@dataclass
class CheckReport:
    """What a connection check found: facts to show, and the problem that stops it working (if any)."""

    name: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    problem: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def render(self) -> str:
        lines = [f"{self.name}: {'OK' if self.ok else 'FAILED'}"]
        width = max((len(label) for label, _ in self.facts), default=0)
        lines += [f"  {label + ':':<{width + 1}} {value}" for label, value in self.facts]
        lines += [f"  note: {note}" for note in self.notes]
        if self.problem:
            lines.append(f"  problem: {self.problem}")
        return "\n".join(lines)


def _empty_request(tenant_id: str) -> bytes:
    now = datetime.now(UTC)
    return build_request(
        [],
        tenant_id=tenant_id,
        exporter_version=__version__,
        export_timestamp=now,
        date_range=(now - timedelta(days=1), now),
    )


def _post(http: httpx.Client, endpoint: str, tenant_id: str, token: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return http.post(endpoint, content=_empty_request(tenant_id), headers=headers)


def _only_empty_records(response: httpx.Response) -> bool:
    """A 400 whose every complaint is about the records list: the answer to an empty list."""
    try:
        answer = json.loads(response.text)
    except ValueError:
        return False
    if not isinstance(answer, dict):
        return False
    details = answer.get("details")
    if isinstance(details, list) and details:
        return all(isinstance(item, dict) and item.get("field") == "records" for item in details)
    return "records" in str(answer.get("error", "")).lower()


def _url_hint(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    if path.endswith(USAGE_PATH):
        return f" API_METER_URL already ends in {USAGE_PATH}: remove that part."
    if path.endswith("/v1"):
        return " API_METER_URL ends in /v1: remove that part."
    return ""


def _refusal(response: httpx.Response, endpoint: str, settings: Settings) -> str:
    """What a first answer other than 'empty records' means, and what to change."""
    status = response.status_code
    body = response.text.strip()[:200] or "no body"
    if status == 400:
        return (
            f"API_Meter refused the check request for more than its empty records list (HTTP 400: {body}): "
            "this server does not follow the API_Meter contract the exporter implements."
        )
    text = explain(
        status,
        endpoint=endpoint,
        tenant_id=settings.api_meter_tenant_id or "",
        body=body,
        location=response.headers.get("Location", "?"),
    )
    return text + _url_hint(settings.api_meter_url or "") if status == 404 else text


def check_api_meter(settings: Settings) -> CheckReport:
    """Requires `settings.require_api_meter()` to pass. Never prints or returns the token."""
    assert settings.api_meter_url and settings.api_meter_token and settings.api_meter_tenant_id
    endpoint = settings.api_meter_url + USAGE_PATH
    tenant = settings.api_meter_tenant_id
    token = settings.api_meter_token.get_secret_value()
    report = CheckReport(
        "API_Meter", facts=[("URL", endpoint), ("tenant", tenant), ("token", "set (API_METER_TOKEN, not shown)")]
    )
    timeout = min(settings.api_meter_timeout_seconds, CHECK_TIMEOUT_SECONDS)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as http:
            answer = _post(http, endpoint, tenant, token)
            if not (answer.status_code == 200 or (answer.status_code == 400 and _only_empty_records(answer))):
                report.problem = _refusal(answer, endpoint, settings)
                return report
            without_token = _post(http, endpoint, tenant, None).status_code
            other_tenant = _post(http, endpoint, NOBODYS_TENANT, token).status_code
    except httpx.TransportError as exc:
        report.problem = (
            f"could not reach API_Meter at {settings.api_meter_url} ({type(exc).__name__}: {exc}). "
            "Check API_METER_URL, and that API_Meter is reachable from this machine."
        )
        return report
    said = (
        "HTTP 400, refused only for its empty records list"
        if answer.status_code == 400
        else "HTTP 200 for an empty list (the contract says 400; nothing was stored)"
    )
    report.facts.append(("answer", f"{said} to POST {USAGE_PATH} with no records"))
    proofs = {"token": without_token == 401, "tenant": other_tenant == 403}
    accepted = ", ".join(["URL"] + [part for part, proven in proofs.items() if proven])
    if all(proofs.values()):
        accepted += " (this server checks both before the body: 401 without a token, 403 for another tenant)"
    report.facts.append(("accepted", accepted))
    if not proofs["token"]:
        report.notes.append(
            f"the token is not proven: without any token this server answers HTTP {without_token}, "
            "not 401, so it reads the body before the token. The first delivery will tell."
        )
    if not proofs["tenant"]:
        report.notes.append(
            f"the tenant is not proven: for another tenant this server answers HTTP {other_tenant}, "
            "not 403. The first delivery will tell."
        )
    return report
