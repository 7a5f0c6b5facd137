"""Where the time of one fetch goes, seen from the simulator: how many requests were in flight, for how
long, and how long Dify took to answer each kind.

Over the fetch's wall time W, with R requests answered in d seconds on average, the mean number in
flight is m = R x d / W. The lower bound of the benchmark is B = R x latency / c (c requests at once),
so W / B = (c / m) x (d / latency): a fetch is slower than the bound either because it kept fewer than
c requests in flight (the client's doing: barriers, work between requests), or because Dify answered
slower than its latency (the simulator's CPU, or its queue when it answers one at a time).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from _fetch_requests import KINDS, request_kind
from _fetch_simulator import Served

PUSHBACK = (429, 503)


@dataclass(frozen=True)
class KindTimes:
    kind: str
    requests: int
    mean_seconds: float  # from arrival to answer, queueing in the simulator included
    first: float  # arrival of the first, seconds since the fetch began
    last: float  # answer of the last


def by_kind(served: list[Served], began: float) -> list[KindTimes]:
    grouped: defaultdict[str, list[Served]] = defaultdict(list)
    for request in served:
        grouped[request_kind(request.path)].append(request)
    return [
        KindTimes(
            kind,
            len(requests),
            sum(r.answered - r.arrived for r in requests) / len(requests),
            min(r.arrived for r in requests) - began,
            max(r.answered for r in requests) - began,
        )
        for kind, _ in KINDS
        if (requests := grouped.get(kind))
    ]


def mean_in_flight(served: list[Served], began: float, ended: float) -> float:
    return sum(r.answered - r.arrived for r in served) / (ended - began)


def seconds_by_in_flight(served: list[Served], began: float, ended: float, concurrency: int) -> dict[str, float]:
    """Seconds of [began, ended] with no request in flight, with some but fewer than `concurrency`, and with
    `concurrency` or more."""
    changes = sorted([(r.arrived, 1) for r in served] + [(r.answered, -1) for r in served])
    spent = {"none": 0.0, "some": 0.0, "all": 0.0}
    in_flight, moment = 0, began
    for at, change in [*changes, (ended, 0)]:
        at = min(max(at, began), ended)
        level = "none" if in_flight == 0 else "all" if in_flight >= concurrency else "some"
        spent[level] += at - moment
        in_flight, moment = in_flight + change, at
    return spent


@dataclass(frozen=True)
class Bucket:
    start: float  # seconds since the fetch began
    answered: int
    pushbacks: int
    mean_in_flight: float


def timeline(served: list[Served], began: float, ended: float, buckets: int = 20) -> list[Bucket]:
    """The fetch cut into `buckets` equal slices: answers, 429/503 answers and mean requests in flight."""
    width = (ended - began) / buckets
    rows = []
    for index in range(buckets):
        low, high = began + index * width, began + (index + 1) * width
        inside = [r for r in served if low <= r.answered < high]
        overlap = sum(max(0.0, min(r.answered, high) - max(r.arrived, low)) for r in served)
        rows.append(
            Bucket(
                low - began,
                len(inside),
                sum(1 for r in inside if r.status in PUSHBACK),
                overlap / width if width > 0 else 0.0,
            )
        )
    return rows


def recovery_seconds(served: list[Served], concurrency: int) -> float | None:
    """Seconds from the last 429/503 answer until `concurrency` requests were in flight again (None: no
    pushback, or never again)."""
    pushbacks = [r.answered for r in served if r.status in PUSHBACK]
    if not pushbacks:
        return None
    last = max(pushbacks)
    # A sweep over arrivals (+1) and answers (-1); at equal times the answer comes first.
    changes = sorted([(r.arrived, 1) for r in served] + [(r.answered, -1) for r in served])
    in_flight = 0
    for moment, change in changes:
        in_flight += change
        if moment > last and in_flight >= concurrency:
            return moment - last
    return None
