"""Short alert messages for people, posted as Slack-compatible JSON (`{"text": ...}`) to a webhook.

An alert never fails what raised it: a webhook that stays down is logged and the caller goes on.
Every secret the caller names is cut out of the text before it leaves the process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date

import httpx

from dify_meter.core.retry import retry_after_seconds

logger = logging.getLogger(__name__)

ATTEMPTS = 3
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_WAIT_SECONDS = 10.0
REDACTED = "[secret removed]"


@dataclass(frozen=True)
class Alert:
    title: str  # what happened, e.g. "API_Meter delivery overdue"
    reason: str  # why, and what to do
    day: date | None = None
    link: str | None = None  # a page of the Dagster UI

    def text(self, secrets: Collection[str] = ()) -> str:
        head = f"dify_meter: {self.title}" + (f" for {self.day}" if self.day else "")
        body = f"*{head}*\n{self.reason}" + (f"\n<{self.link}|Open in Dagster>" if self.link else "")
        for secret in sorted(secrets, key=len, reverse=True):  # longest first: one secret may contain another
            body = body.replace(secret, REDACTED)
        return body


def ui_link(ui_url: str | None, path: str) -> str | None:
    return f"{ui_url.rstrip('/')}/{path.lstrip('/')}" if ui_url else None


class AlertWebhook:
    """POSTs alerts to one webhook, trying at most ATTEMPTS times on network errors, 429 and 5xx."""

    def __init__(
        self,
        url: str,
        *,
        secrets: Collection[str] = (),
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url  # a credential: it is never logged or put into an exception
        self._secrets = [*secrets, url]
        self._timeout = timeout
        self._sleep = sleep

    def __repr__(self) -> str:
        return "AlertWebhook(url=[secret])"

    def post(self, alert: Alert) -> bool:
        """True once the webhook took the alert; False (and a warning in the log) if it never did."""
        body = {"text": alert.text(self._secrets)}
        problem = ""
        with httpx.Client(timeout=self._timeout) as client:
            for attempt in range(1, ATTEMPTS + 1):
                wait = float(2 ** (attempt - 1))
                try:
                    response = client.post(self._url, json=body)
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}"  # the message of an httpx error may quote the URL
                else:
                    if response.is_success:
                        return True
                    problem = f"HTTP {response.status_code}"
                    if response.status_code not in RETRY_STATUSES:
                        break
                    wait = retry_after_seconds(response.headers.get("retry-after")) or wait
                if attempt < ATTEMPTS:
                    self._sleep(min(wait, MAX_WAIT_SECONDS))
        logger.warning(
            'alert webhook did not take the alert "%s" (%s); the alert is only in this log', alert.title, problem
        )
        return False
