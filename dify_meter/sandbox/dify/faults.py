"""Faults on demand: error statuses, malformed or truncated bodies and dropped connections.

A fault is written `KIND[:key=value]...`, for example `503:next=3`, `429:share=0.2:retry_after=1`,
`malformed:path=chat-messages:next=1`, `truncated:next=1`, `drop:next=2`.

Kinds (what the client sees):
  500, 502, 503, 504  that status with a Dify-style JSON error body; the request is not served
  429                 429 with `Retry-After: <retry_after>` and a JSON error body; not served
  malformed           200 whose body is not JSON: `body=html` (default) an HTML error page, not served;
                      `body=json` the real answer cut in half as application/json (the request is served)
  truncated           the real answer with a Content-Length larger than what is sent, then the connection
                      closes (the request is served: side effects such as a detail read happen)
  drop                the connection closes without any answer; not served
Keys:
  next=N         fault the next N matching requests (default 1; with `share` alone: no limit)
  share=F        fault each matching request with probability F, drawn from a seeded RNG
  seed=N         the RNG seed of `share` (default 0): the same requests in the same order get the same faults
  path=TEXT      only requests whose path contains TEXT
  after=N        let the first N matching requests through
  retry_after=S  the Retry-After seconds of a 429 (default 1)
  body=html|json the malformed body (default html)
Faults are tried in the order they were added; the first that fires shapes the answer.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, replace
from typing import Literal

from dify_meter.sandbox.dify.exchange import Reply

STATUS_KINDS = ("500", "502", "503", "504", "429")
KINDS = (*STATUS_KINDS, "malformed", "truncated", "drop")
SERVED_KINDS = ("truncated",)  # malformed is served too when its body is the cut real answer
MalformedBody = Literal["html", "json"]
ERRORS = {
    500: ("internal_server_error", "Internal Server Error"),
    502: ("bad_gateway", "Bad Gateway"),
    503: ("service_unavailable", "Service Unavailable"),
    504: ("gateway_timeout", "Gateway Timeout"),
    429: ("too_many_requests", "Too many requests. Please try again later."),
}
# What a proxy in front of Dify may answer with a 200 while Dify is being restarted.
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head>\n"
    b"<body><h1>Dify is restarting</h1><p>Please try again in a minute.</p></body></html>\n"
)


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True)
class FaultSpec:
    """One fault (see the module docstring). `count` defaults to 1; give None for no limit (the string form
    does that when it has `share` and no `next`)."""

    kind: str
    count: int | None = 1  # how many requests get it (`next=`); None: no limit
    share: float = 1.0
    seed: int = 0
    path: str = ""
    after: int = 0
    retry_after: int = 1
    body: MalformedBody = "html"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FaultSpecError(f"unknown fault kind {self.kind!r}: use one of {', '.join(KINDS)}")
        if self.count is not None and self.count < 1:
            raise FaultSpecError(f"next must be 1 or more, got {self.count}")
        if not 0 < self.share <= 1:
            raise FaultSpecError(f"share must be more than 0 and at most 1, got {self.share}")
        if self.after < 0 or self.retry_after < 0:
            raise FaultSpecError("after and retry_after must be 0 or more")
        if self.body not in ("html", "json"):
            raise FaultSpecError(f"body must be html or json, got {self.body!r}")

    @property
    def serves(self) -> bool:
        """Whether Dify really answers the request (with its side effects) before the fault shapes the reply."""
        return self.kind in SERVED_KINDS or (self.kind == "malformed" and self.body == "json")

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        kind, *options = text.strip().split(":")
        values: dict[str, str] = {}
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or key not in _KEYS:
                raise FaultSpecError(
                    f"in fault {text!r}: expected key=value with a key among {', '.join(_KEYS)}, got {option!r}"
                )
            values[key] = value
        try:
            count: int | None = int(values["next"]) if "next" in values else (None if "share" in values else 1)
            return cls(
                kind=kind,
                count=count,
                share=float(values.get("share", 1.0)),
                seed=int(values.get("seed", 0)),
                path=values.get("path", ""),
                after=int(values.get("after", 0)),
                retry_after=int(values.get("retry_after", 1)),
                body=values.get("body", "html"),  # type: ignore[arg-type]  # checked in __post_init__
            )
        except FaultSpecError as error:
            raise FaultSpecError(f"in fault {text!r}: {error}") from None
        except ValueError as error:
            raise FaultSpecError(f"in fault {text!r}: a number is malformed ({error})") from None


_KEYS = ("next", "share", "seed", "path", "after", "retry_after", "body")


@dataclass
class _Armed:
    spec: FaultSpec
    rng: random.Random
    seen: int = 0
    fired: int = 0


class Faults:
    """The faults armed on a simulator, and how many were injected (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self.injected_by_kind: Counter[str] = Counter()

    def add(self, spec: FaultSpec | str) -> FaultSpec:
        spec = FaultSpec.parse(spec) if isinstance(spec, str) else spec
        with self._lock:
            self._armed.append(_Armed(spec, random.Random(spec.seed)))
        return spec

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    @property
    def injected(self) -> int:
        with self._lock:
            return sum(self.injected_by_kind.values())

    def draw(self, path: str) -> FaultSpec | None:
        """The fault for a request to `path`, if one fires; counts it as injected."""
        with self._lock:
            for armed in self._armed:
                spec = armed.spec
                if spec.path not in path or (spec.count is not None and armed.fired >= spec.count):
                    continue
                armed.seen += 1
                if armed.seen <= spec.after:
                    continue
                if spec.share < 1 and armed.rng.random() >= spec.share:
                    continue
                armed.fired += 1
                self.injected_by_kind[spec.kind] += 1
                return spec
        return None


def fault_reply(spec: FaultSpec, served: Reply | None) -> Reply:
    """The reply a fault gives; `served` is Dify's own answer when the fault `serves`, else None."""
    if spec.kind in STATUS_KINDS:
        status = int(spec.kind)
        code, message = ERRORS[status]
        headers = (("Retry-After", str(spec.retry_after)),) if status == 429 else ()
        return Reply(status, {"code": code, "message": message, "status": status}, headers=headers)
    if spec.kind == "drop":
        return Reply(None, b"")
    if spec.kind == "malformed" and served is None:
        return Reply(200, HTML_PAGE, content_type="text/html; charset=utf-8")
    if served is None:
        raise ValueError(f"the {spec.kind} fault shapes Dify's own answer: serve the request first")
    if spec.kind == "malformed":
        payload = served.payload()
        return replace(served, body=payload[: len(payload) // 2])
    return replace(served, truncated=True)
