"""What each answer of API_Meter means and what to do about it: the one wording of docs/api-meter.md's table.

The sender's errors (`rejections.py`) and `dify-meter check` (`cli/check_api_meter.py`) both say it
from here, each adding only what its own situation knows (the rejected records, a URL hint).
"""

from __future__ import annotations

from dataclasses import dataclass

from dify_meter.core.api_meter_contract import RETRYABLE_STATUSES, USAGE_PATH

BASE_URL_REMEDY = f"Check API_METER_URL: it is the base URL of API_Meter; the exporter appends {USAGE_PATH}."


@dataclass(frozen=True, slots=True)
class Explanation:
    """`meaning` and `remedy` are templates over the facts `explain` knows (endpoint, tenant_id, status, …)."""

    meaning: str
    remedy: str


EXPLANATIONS: dict[int | str, Explanation] = {
    400: Explanation(
        "API_Meter rejected the request as invalid (HTTP 400: {error}).", "Correct the records and fields it names."
    ),
    401: Explanation(
        "API_Meter refused the token (HTTP 401): the bearer token is wrong, expired or missing.",
        "Check API_METER_TOKEN: it is the bearer token API_Meter issued for tenant {tenant_id}.",
    ),
    403: Explanation(
        "API_Meter accepted the token but not for tenant {tenant_id} (HTTP 403).",
        "Check API_METER_TENANT_ID, and that API_METER_TOKEN was issued for that tenant.",
    ),
    404: Explanation("API_Meter answered 404 Not Found for POST {endpoint}: the URL is wrong.", BASE_URL_REMEDY),
    405: Explanation(
        "POST is not allowed at {endpoint} (HTTP 405): API_METER_URL does not point at API_Meter.", BASE_URL_REMEDY
    ),
    413: Explanation(
        "API_Meter refused a single record as too large (HTTP 413): {record} cannot be split further.",
        "Ask for a larger body limit.",
    ),
    "redirect": Explanation(
        "API_Meter redirects POST {endpoint} to {location} (HTTP {status}); the exporter does not follow redirects.",
        f"Set API_METER_URL to the URL it redirects to, without {USAGE_PATH}.",
    ),
    "transient": Explanation(
        "API_Meter is reachable but cannot take deliveries now (HTTP {status}: {body}).",
        "Deliveries are retried and then spooled; try again later.",
    ),
    "unexpected": Explanation(
        "API_Meter answered an unexpected HTTP {status} for POST {endpoint} ({body}).",
        "It is not retried; docs/api-meter.md lists the answers the exporter understands.",
    ),
}


def explanation_for(status: int) -> Explanation:
    if status in EXPLANATIONS:
        return EXPLANATIONS[status]
    if 300 <= status < 400:
        return EXPLANATIONS["redirect"]
    if status in RETRYABLE_STATUSES:
        return EXPLANATIONS["transient"]
    return EXPLANATIONS["unexpected"]


def explain(
    status: int,
    *,
    endpoint: str,
    tenant_id: str,
    body: str = "no body",
    location: str = "?",
    record: str = "request",
    error: str = "",
) -> str:
    """`meaning remedy` for `status`, with the facts of this answer filled in."""
    row = explanation_for(status)
    facts = {
        "status": status,
        "endpoint": endpoint,
        "tenant_id": tenant_id,
        "body": body,
        "location": location,
        "record": record,
        "error": error,
    }
    return f"{row.meaning} {row.remedy}".format(**facts)
