"""Where the time of one fetch goes, from the simulator's side: the phases of the fetch (each a burst of
one kind of request), the time outside any request, and how many requests were in flight over time.

The fetch reads in phases with a barrier between them (dify_meter/dify/events.py): the app list, the
lists of every app, the messages, the node executions, the details; then Dify's statistics for the
check; then the DuckDB write. A phase's "mean in flight" is the sum of its requests' durations over
its wall time: 8 means the client kept 8 requests in flight all along.
"""

from __future__ import annotations

from dataclasses import dataclass

from _fetch_requests import request_kind
from _fetch_simulator import Served

PUSHBACK = (429, 503)
PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("profile, app list", ("profile", "apps")),
    ("lists (conversations, app logs)", ("chat_lists", "completion_lists", "log_lists")),
    ("chat messages", ("messages",)),
    ("node executions", ("nodes",)),
    ("conversation details", ("chat_details", "completion_details")),
    ("statistics (profile, apps, token-costs)", ("token_costs",)),
    ("other", ("other",)),
)
_STATISTICS = PHASES[5][0]


@dataclass(frozen=True)
class Phase:
    name: str
    requests: int
    first: float
    last: float
    busy_seconds: float  # the sum of its requests' durations

    @property
    def wall(self) -> float:
        return self.last - self.first

    @property
    def mean_in_flight(self) -> float:
        return self.busy_seconds / self.wall if self.wall > 0 else 0.0


def phase_of(kind: str, after_first_list: bool) -> str:
    if kind in ("profile", "apps") and after_first_list:
        return _STATISTICS  # fetch_dify_totals reads the profile and the app list again
    return next(name for name, kinds in PHASES if kind in kinds)


def phases(served: list[Served]) -> list[Phase]:
    ordered = sorted(served, key=lambda request: request.arrived)
    grouped: dict[str, list[Served]] = {}
    after_first_list = False
    for request in ordered:
        kind = request_kind(request.path)
        after_first_list |= kind not in ("profile", "apps")
        grouped.setdefault(phase_of(kind, after_first_list), []).append(request)
    found = []
    for name, _ in PHASES:
        requests = grouped.get(name)
        if requests:
            found.append(Phase(name, len(requests), min(r.arrived for r in requests),
                               max(r.answered for r in requests), sum(r.answered - r.arrived for r in requests)))
    return found


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
        rows.append(Bucket(low - began, len(inside), sum(1 for r in inside if r.status in PUSHBACK),
                           overlap / width if width > 0 else 0.0))
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
