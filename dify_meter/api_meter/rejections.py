"""The error for one of API_Meter's permanent refusals: the status's explanation, the records it names."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from dify_meter.api_meter.errors import PermanentDeliveryError
from dify_meter.api_meter.explanations import explain
from dify_meter.api_meter.records import record_key

KEPT = "Nothing of this batch was applied and the data is kept; it can be sent again once this is fixed."


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = json.loads(response.text)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _describe_record(batch: Sequence[Mapping[str, Any]], index: object) -> str:
    if isinstance(index, int) and 0 <= index < len(batch):
        try:
            day, provider, model = record_key(batch[index])
            return f"record {index} ({day} {provider}/{model})"
        except (KeyError, TypeError, ValueError):
            return f"record {index}"
    return "request"


def _details(answer: dict[str, Any]) -> list[dict[str, Any]]:
    details = answer.get("details")
    return [item for item in details if isinstance(item, dict)] if isinstance(details, list) else []


def explain_rejection(
    response: httpx.Response, batch: Sequence[Mapping[str, Any]], *, endpoint: str, tenant_id: str
) -> PermanentDeliveryError:
    """The error for a status that must not be retried as is (anything but 200, 429 and 5xx-transient)."""
    status = response.status_code
    answer = _answer(response)
    details = _details(answer)
    text = explain(
        status,
        endpoint=endpoint,
        tenant_id=tenant_id,
        body=response.text.strip()[:200] or "no body",
        record=_describe_record(batch, 0),
        error=str(answer.get("error", response.text[:200])),
    )
    message = f"{text} {KEPT}"
    if status == 400:
        lines = [
            f"  - {_describe_record(batch, item.get('index'))} {item.get('field', '?')}: {item.get('message', '?')}"
            for item in details
        ]
        message += "\nRejected records:\n" + ("\n".join(lines) or "  (the server named none)")
    return PermanentDeliveryError(status, message, details)
