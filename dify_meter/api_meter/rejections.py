"""Human explanations of API_Meter's permanent refusals: what went wrong and which setting to check."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from dify_meter.api_meter.errors import PermanentDeliveryError
from dify_meter.api_meter.records import record_key
from dify_meter.core.api_meter_contract import USAGE_PATH

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
    if status == 400:
        lines = [
            f"  - {_describe_record(batch, item.get('index'))} {item.get('field', '?')}: {item.get('message', '?')}"
            for item in details
        ]
        message = (
            f"API_Meter rejected the request as invalid (HTTP 400: {answer.get('error', response.text[:200])}). "
            f"{KEPT}\nRejected records:\n" + ("\n".join(lines) or "  (the server named none)")
        )
    elif status == 401:
        message = (
            "API_Meter refused the token (HTTP 401): the bearer token is wrong, expired or missing. "
            f"Check API_METER_TOKEN. {KEPT}"
        )
    elif status == 403:
        message = (
            f"API_Meter says the token is not allowed for tenant {tenant_id} (HTTP 403). "
            f"Check API_METER_TENANT_ID, and that the token was issued for that tenant. {KEPT}"
        )
    elif status == 404:
        message = (
            f"API_Meter answered 404 Not Found for POST {endpoint}: the URL is wrong. Check API_METER_URL: "
            f"it is the base URL of API_Meter, the exporter appends {USAGE_PATH}. {KEPT}"
        )
    elif status == 413:
        message = (
            f"API_Meter refused a single record as too large (HTTP 413): "
            f"{_describe_record(batch, 0)} cannot be split further. Ask for a larger body limit. {KEPT}"
        )
    else:
        message = (
            f"API_Meter answered an unexpected HTTP {status} for POST {endpoint} "
            f"({response.text.strip()[:200] or 'no body'}); it is not retried. {KEPT}"
        )
    return PermanentDeliveryError(status, message, details)
