"""Helpers shared by the benchmark scripts: wall-clock timing, memory of this process, child
processes that report JSON, and plain-text tables.

Benchmarks run each measured workload in a fresh child process so that its peak RSS is its own,
not inherited from an earlier, larger run.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH-RESULT "


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line: this benchmark needs Linux")


def peak_rss_mib() -> float:
    """The high-water mark of this process's resident memory (VmHWM), in MiB."""
    return _status_kib("VmHWM") / 1024


def current_rss_mib() -> float:
    return _status_kib("VmRSS") / 1024


class Stopwatch:
    """Named wall-clock durations in seconds, in the order they were first recorded."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def time(self, label: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start


def report_result(result: Mapping[str, Any]) -> None:
    """Print a child's result on one marked line of stdout, for `run_child` to pick up."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_child(args: Sequence[str], *, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run `python <args>` from the repo root and return the result it reported.

    Its stderr passes through, so a failing child explains itself.
    """
    completed = subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark child {' '.join(args)} failed with exit code {completed.returncode}")
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(f"benchmark child {' '.join(args)} reported no result line")


def run_timed(args: Sequence[str], *, env: Mapping[str, str] | None = None) -> tuple[float, str]:
    """Run a command, return its wall time in seconds and its combined output; raise if it fails."""
    start = time.perf_counter()
    completed = subprocess.run(
        args,
        cwd=REPO_ROOT,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        tail = "\n".join(completed.stdout.splitlines()[-30:])
        raise RuntimeError(f"{' '.join(args)} failed with exit code {completed.returncode}:\n{tail}")
    return elapsed, completed.stdout


def machine_description() -> str:
    memory_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")
    )
    return (
        f"{os.cpu_count()} cores, {memory_kib / 1024 / 1024:.1f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    text = [[str(h) for h in headers]] + [[str(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in text) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        right = [value.rjust(width) for value, width in zip(row[1:], widths[1:], strict=True)]
        cells = [row[0].ljust(widths[0]), *right]
        return "  ".join(cells).rstrip()

    return "\n".join([line(text[0]), line(["-" * w for w in widths]), *(line(row) for row in text[1:])])
