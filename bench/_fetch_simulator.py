"""The Dify side of the fetch benchmark: the benchmark workspace, and a simulator process that reports
what it served.

The simulator CLI (`dify-meter sandbox dify`) serves one generated workspace, and the generator makes
16 apps whatever `--scale` is; the issue asks for at least 20. So the benchmark workspace is two
generated workspaces (seeds 7 and 8) merged into one tenant: 32 apps, every mode twice. It is served
by `DifySimulator`, the class the CLI runs, in a process of its own started like the CLI
(`python bench/fetch.py --child dify ...`), with the CLI's `--latency-ms`, `--max-parallel` and
`--fault` options, plus a way to ask it what it served: the benchmark writes `stats` on its stdin and
reads one line back (requests since the last `stats`: when each arrived and was answered, its path
and status; and the simulator process's CPU time).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dify_meter.sandbox.dify.exchange import Reply
from dify_meter.sandbox.dify.faults import FaultSpec
from dify_meter.sandbox.dify.generate import Workspace, generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.loopback import Request

SEEDS = (7, 8)
READY_PREFIX = "DIFY-READY "
STATS_PREFIX = "DIFY-STATS "


@dataclass(frozen=True)
class WorkspaceSpec:
    """Which workspace to generate: the same spec always gives the same data, in every process."""

    scale: float
    start_date: date
    days: int
    account_timezone: str = "America/New_York"

    def arguments(self) -> list[str]:
        return [
            "--scale",
            str(self.scale),
            "--start-date",
            self.start_date.isoformat(),
            "--days",
            str(self.days),
            "--account-timezone",
            self.account_timezone,
        ]


def benchmark_workspace(spec: WorkspaceSpec) -> Workspace:
    """The workspaces of every seed in SEEDS as one tenant: the first one's owner, the others' apps added."""
    merged = generate_workspace(
        SEEDS[0], spec.start_date, spec.days, account_timezone=spec.account_timezone, scale=spec.scale
    )
    for copy, seed in enumerate(SEEDS[1:], start=2):
        other = generate_workspace(
            seed, spec.start_date, spec.days, account_timezone=spec.account_timezone, scale=spec.scale
        )
        for account in other.accounts.values():
            if account.role == "owner":
                account.role = "admin"  # one owner per tenant: the admin key acts as the first one
        for app in other.apps.values():
            app.name = f"{app.name} {copy}"
        tables = (
            other.accounts,
            other.apps,
            other.app_model_configs,
            other.workflows,
            other.end_users,
            other.conversations,
            other.messages,
            other.agent_thoughts,
            other.workflow_runs,
            other.node_executions,
            other.workflow_app_logs,
        )
        for table in tables:
            for row in table.values():
                merged.add(row)
    return merged


class MeasuredSimulator(DifySimulator):
    """A DifySimulator that keeps, per request, when it arrived and when its answer was ready."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._served: list[tuple[float, float, str, int | None]] = []
        self._served_lock = threading.Lock()

    def handle(self, request: Request) -> Reply:
        arrived = time.monotonic()
        reply = super().handle(request)
        with self._served_lock:
            self._served.append((arrived, time.monotonic(), request.path, reply.status))
        return reply

    def take_served(self) -> list[tuple[float, float, str, int | None]]:
        """(arrived, answered, path, status) of every request since the previous call."""
        with self._served_lock:
            served, self._served = self._served, []
        return served


def serve_child(spec: WorkspaceSpec, *, latency_ms: float, max_parallel: int | None, faults: list[str]) -> None:
    """Run the simulator until stdin closes, answering each `stats` line with one STATS line."""
    workspace = benchmark_workspace(spec)
    simulator = MeasuredSimulator(
        workspace,
        port=0,
        latency_ms=latency_ms,
        max_parallel=max_parallel,
        faults=[FaultSpec.parse(fault) for fault in faults],
    )
    simulator.start()
    cpu_mark = time.process_time()
    print(
        READY_PREFIX
        + json.dumps(
            {
                "base_url": simulator.base_url,
                "api_key": simulator.api_key,
                "workspace_id": simulator.workspace_id,
                "summary": workspace.summary(),
            }
        ),
        flush=True,
    )
    try:
        for line in sys.stdin:
            if line.strip() == "stats":
                cpu_now = time.process_time()
                stats = {"cpu_seconds": cpu_now - cpu_mark, "served": simulator.take_served()}
                cpu_mark = cpu_now
                print(STATS_PREFIX + json.dumps(stats), flush=True)
    finally:
        simulator.stop()


@dataclass(frozen=True)
class Served:
    arrived: float  # time.monotonic() of the simulator process (the same clock as the benchmark's)
    answered: float
    path: str
    status: int | None


@dataclass(frozen=True)
class ServedStats:
    cpu_seconds: float  # of the simulator process, every thread
    served: list[Served]


class SimulatorProcess:
    """`python <script> --child dify ...` as a context manager: started, ready, asked for stats, stopped."""

    def __init__(
        self,
        script: Path,
        spec: WorkspaceSpec,
        *,
        latency_ms: float = 0.0,
        max_parallel: int | None = None,
        faults: Sequence[str] = (),
    ) -> None:
        self.command = [
            sys.executable,
            str(script),
            "--child",
            "dify",
            *spec.arguments(),
            "--latency-ms",
            str(latency_ms),
        ]
        if max_parallel is not None:
            self.command += ["--max-parallel", str(max_parallel)]
        for fault in faults:
            self.command += ["--fault", fault]
        self.base_url = self.api_key = self.workspace_id = self.summary = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> SimulatorProcess:
        self._process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = json.loads(self._read_line(READY_PREFIX))
        self.base_url, self.api_key = ready["base_url"], ready["api_key"]
        self.workspace_id, self.summary = ready["workspace_id"], ready["summary"]
        return self

    def stats(self) -> ServedStats:
        """What the simulator served since the previous call (or since it became ready)."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write("stats\n")
        self._process.stdin.flush()
        stats = json.loads(self._read_line(STATS_PREFIX))
        return ServedStats(stats["cpu_seconds"], [Served(*row) for row in stats["served"]])

    def __exit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _read_line(self, prefix: str) -> str:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            if line.startswith(prefix):
                return line[len(prefix) :]
        raise RuntimeError(
            f"the Dify simulator ({' '.join(self.command)}) exited with code "
            f"{self._process.wait()} before it said {prefix.strip()}"
        )
