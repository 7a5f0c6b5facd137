"""A DuckDBStore that times its connections, per caller: how long opening took (the schema is applied on
every open), how long the caller used the connection, and how long closing took (the checkpoint)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

from dify_meter.core.store import DuckDBStore


@dataclass
class ConnectionTimes:
    connections: int = 0
    opening: float = 0.0
    using: float = 0.0
    closing: float = 0.0

    @property
    def total(self) -> float:
        return self.opening + self.using + self.closing


class TimedStore(DuckDBStore):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.by_caller: dict[str, ConnectionTimes] = {}
        self._times_lock = threading.Lock()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        caller = sys._getframe(2).f_code.co_qualname  # this generator <- contextlib's __enter__ <- the caller
        began = time.perf_counter()
        with super().connect() as conn:
            opened = time.perf_counter()
            try:
                yield conn
            finally:
                used = time.perf_counter()
        closed = time.perf_counter()
        with self._times_lock:
            times = self.by_caller.setdefault(caller, ConnectionTimes())
            times.connections += 1
            times.opening += opened - began
            times.using += used - opened
            times.closing += closed - used
