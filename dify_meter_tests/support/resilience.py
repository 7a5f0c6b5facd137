"""What the resilience tests share: a user's setup against the simulators, child processes to kill, simulators
that stop a run exactly where a test wants it, and the ground truth every table and API_Meter must hold."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from dify_meter.api_meter import spool
from dify_meter.core.api_meter_contract import USAGE_PATH
from dify_meter.core.event import UsageEvent
from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.api_meter.server import DEFAULT_TENANT_ID, DEFAULT_TOKEN, ApiMeterServer
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.workspace import Workspace
from dify_meter.sandbox.loopback import Request
from dify_meter.usage.aggregate_modes import AGGREGATE_TABLES
from dify_meter_tests.support.aggregates import NORMALIZER, actual, expected, resolved_currencies
from dify_meter_tests.support.console import assert_same_events
from dify_meter_tests.support.environment import ALL_VARIABLES
from dify_meter_tests.support.events import day_window, stored_events

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 120.0  # the longest any wait of these tests may last: none can hang


# --- a user's setup -------------------------------------------------------------------------------------


@dataclass
class MeterSetup:
    """A user's folders and configuration, with Dify and API_Meter being the simulators."""

    root: Path
    dify: DifySimulator
    api_meter: ApiMeterServer

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def store(self) -> DuckDBStore:
        return DuckDBStore(self.root / "data" / "m.duckdb")

    def env(self, **overrides: str) -> dict[str, str]:
        """The process environment: none of the caller's dify_meter settings, ours instead."""
        env = {name: value for name, value in os.environ.items() if name not in ALL_VARIABLES}
        env.update(
            {
                "DAGSTER_HOME": str(self.home),
                "DIFY_METER_DUCKDB": str(self.store.path),
                "DIFY_API_URL": self.dify.base_url,
                "DIFY_API_KEY": self.dify.api_key,
                "DIFY_WORKSPACE_ID": self.dify.workspace_id,
                "API_METER_URL": self.api_meter.base_url,
                "API_METER_TOKEN": DEFAULT_TOKEN,
                "API_METER_TENANT_ID": DEFAULT_TENANT_ID,
                "MAX_RETRIES": "1",  # one replay by the sensor; transient sends are retried once
            }
        )
        env.update(overrides)
        return env

    def apply(self, monkeypatch: Any, **overrides: str) -> None:
        """Set up DAGSTER_HOME as the README says, and make this process see the same environment (for the
        instance, the sensor and in-process runs)."""
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT_ROOT / "dify_meter/defs/templates/dagster.yaml", self.home / "dagster.yaml")
        for name in ALL_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env(**overrides).items():
            if os.environ.get(name) != value:
                monkeypatch.setenv(name, value)
        monkeypatch.chdir(self.root)  # no stray .env


# --- child processes ----------------------------------------------------------------------------------


def materialize_command(first: date, last: date, select: str = "raw_usage_events*") -> list[str]:
    """`dagster asset materialize` of a single-run range, as a user runs it from the shell."""
    return [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "--select",
        select,
        "--partition-range",
        f"{first}...{last}",
        "-m",
        "dify_meter.definitions",
    ]


def export_args(first: date, last: date, *more: str) -> list[str]:
    """`dify-meter export` of a range with every aggregate and the delivery."""
    return ["export", "--start-date", str(first), "--end-date", str(last), "--mode", "all", *more]


def meter_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dify_meter.cli.main", *args]


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    output_path: Path

    @property
    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def wait_for(self, condition: Callable[[], object], what: str) -> None:
        """wait_for, failing at once with the child's output if it ends first."""

        def done() -> object:
            assert self.process.poll() is None, f"the child ended before {what}:\n{self.output[-3000:]}"
            return condition()

        wait_for(done, what)

    def kill(self) -> None:
        """kill -9 of the run's process (what an OOM killer or a pulled plug does), then of what it started."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(WAIT_SECONDS)
        self._kill_group()

    def _kill_group(self) -> None:
        # Its own session: the group holds only what this child started (Dagster's log tailers).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


@contextmanager
def child_process(command: list[str], env: dict[str, str], output_path: Path) -> Iterator[Child]:
    """A child in its own session whose output goes to a file; killed with what it started if still there."""
    with output_path.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    child = Child(process, output_path)
    try:
        yield child
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT_SECONDS)
        child._kill_group()


def run_command(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run to the end within WAIT_SECONDS: a run that blocks (e.g. on a dead run's pool slot) fails the test."""
    return subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=WAIT_SECONDS)


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


# --- simulators that stop a run where the test wants it -------------------------------------------------


class FreezeScan:
    """A Dify simulator intercept: lets `after` requests whose path contains `path` through, then holds every
    request until released. The client is then frozen mid-scan, where a kill or a second process should land."""

    def __init__(self, path: str, after: int) -> None:
        self.path, self.after = path, after
        self.frozen = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._seen = 0

    def __call__(self, request: Request) -> None:
        with self._lock:
            if self.path in request.path:
                self._seen += 1
            freeze = self._seen >= self.after and not self._released.is_set()
        if freeze:
            self.frozen.set()
            self._released.wait(WAIT_SECONDS)
        return None  # Dify answers as usual

    def release(self) -> None:
        self._released.set()


class HoldingApiMeter(ApiMeterServer):
    """The reference API_Meter, able to hold the next usage request once it has arrived until released, so a kill
    of the sender lands mid-request. Released, the request is applied as usual, even if its sender is dead."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrived = threading.Event()
        self._released = threading.Event()
        self._hold = False
        self._hold_lock = threading.Lock()

    def hold_next(self) -> None:
        with self._hold_lock:
            self._hold = True

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self.release()
        super().stop()

    def _answer(self, request: Request) -> Any:
        with self._hold_lock:
            hold = self._hold and request.path == USAGE_PATH
            self._hold = self._hold and not hold
        if hold:
            self.arrived.set()
            self._released.wait(WAIT_SECONDS)
        return super()._answer(request)


# --- the ground truth -------------------------------------------------------------------------------------


def truth(workspace: Workspace, first: date, last: date) -> list[UsageEvent]:
    """What Dify's usage of first..last (UTC days) is, computed by the simulator from its own rows."""
    return workspace.ground_truth(*day_window(first, last, "UTC"), "UTC")


def assert_duckdb_holds(store: DuckDBStore, events: list[UsageEvent]) -> None:
    """raw_usage_events and the four aggregates hold exactly `events`, grouped in plain Python."""
    assert_same_events(stored_events(store), events)
    with store.connect_read_only(wait_seconds=WAIT_SECONDS) as conn:
        for mode in AGGREGATE_TABLES:
            assert actual(conn, mode) == expected(events, mode), f"{AGGREGATE_TABLES[mode]} differs from the truth"


def api_meter_truth(events: list[UsageEvent]) -> dict[tuple, tuple]:
    """(usage_date, provider, model) -> (input, output, total, requests, cost, currency) that API_Meter must hold:
    every per-model key, except those whose priced events have two currencies (held back by the spec)."""
    currency = resolved_currencies(events)
    currencies: dict[tuple, set[str]] = defaultdict(set)
    for event in events:
        n = NORMALIZER.normalize(event.provider_raw, event.model_raw)
        currencies[(event.usage_date, n.provider, n.model)].add(currency[event.event_id])
    return {
        key: (*sums[:4], sums[4], next(iter(currencies[key])))
        for key, sums in expected(events, "per_model").items()
        if len(currencies[key]) == 1
    }


def api_meter_holds(server: ApiMeterServer) -> dict[tuple, tuple]:
    return {
        (key.usage_date, key.provider, key.model): (
            record.input_tokens,
            record.output_tokens,
            record.total_tokens,
            record.request_count,
            record.cost_actual,
            record.currency,
        )
        for key, record in server.records().items()
    }


def open_spool_days(store: DuckDBStore) -> list[date]:
    with store.connect_read_only(wait_seconds=WAIT_SECONDS) as conn:
        return [entry.usage_date for entry in spool.list_entries(conn, statuses=("pending", "failed"))]


# --- the Dagster instance in DAGSTER_HOME ------------------------------------------------------------------


def run_status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None, f"no run {run_id} in the instance"
    return run.status


def duckdb_slot_holders(instance: dg.DagsterInstance) -> list[str]:
    """Run ids holding a slot of the duckdb pool."""
    return [slot.run_id for slot in instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots]


def runs_of(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return [record.dagster_run for record in instance.get_run_records()]
