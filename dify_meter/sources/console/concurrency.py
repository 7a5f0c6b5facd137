"""How many requests the client keeps in flight at once: at most DIFY_MAX_CONCURRENCY, less while Dify
pushes back.

Additive increase, multiplicative decrease (as TCP does): a 429 or 503 halves the limit (never below
1); `limit` successes in a row raise it by one again, up to the maximum. The answers to requests that
were already in flight when the limit was halved do not halve it again: one burst of 429s is one
signal, not eight.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Slot:
    """A permit to send one request; `epoch` counts the decreases that happened before it was taken."""

    epoch: int


class AdaptiveConcurrency:
    def __init__(self, maximum: int) -> None:
        if maximum < 1:
            raise ValueError(f"maximum concurrency must be at least 1, got {maximum}")
        self.maximum = maximum
        self._limit = maximum
        self._in_flight = 0
        self._epoch = 0
        self._successes = 0
        self._peak_in_flight = 0
        self._lowest_limit = maximum
        self._changed = threading.Condition()

    @property
    def limit(self) -> int:
        """Requests allowed in flight right now."""
        with self._changed:
            return self._limit

    @property
    def lowest_limit(self) -> int:
        with self._changed:
            return self._lowest_limit

    @property
    def peak_in_flight(self) -> int:
        with self._changed:
            return self._peak_in_flight

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Wait until fewer than `limit` requests are in flight, and count this one until it is done."""
        with self._changed:
            self._changed.wait_for(lambda: self._in_flight < self._limit)
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            taken = Slot(self._epoch)
        try:
            yield taken
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify()

    def pushed_back(self, slot: Slot) -> None:
        """Dify answered 429 or 503: halve the limit, once per burst."""
        with self._changed:
            if slot.epoch != self._epoch:
                return
            self._epoch += 1
            self._successes = 0
            self._limit = max(1, self._limit // 2)
            self._lowest_limit = min(self._lowest_limit, self._limit)

    def succeeded(self) -> None:
        """A request went through: after `limit` of them in a row, allow one more in flight."""
        with self._changed:
            if self._limit >= self.maximum:
                return
            self._successes += 1
            if self._successes >= self._limit:
                self._successes = 0
                self._limit += 1
                self._changed.notify()
