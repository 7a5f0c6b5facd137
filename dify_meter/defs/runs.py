"""Run assets through the Dagster instance in DAGSTER_HOME, so CLI runs appear in the UI like any other,
and fail the runs whose process died, which would otherwise block every later run."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from dify_meter.defs.instance import ensure_dagster_home

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo

logger = logging.getLogger(__name__)

CODE_LOCATION = "dify_meter"
HOST_TAG = "dify_meter/host"  # which machine ran a CLI run: a pid means nothing on another one
# Runs that may hold a pool slot or a run slot while their process is gone.
_IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
# Boot time in /proc/stat has whole seconds: a process start read from /proc is up to 1 s off.
_START_TIME_SLACK_SECONDS = 1.0


@dataclass(frozen=True)
class RunEvent:
    """One event of a run, without Dagster types, for progress output and log files."""

    run_id: str
    timestamp: float
    kind: str  # Dagster's event type (STEP_START, STEP_FAILURE, ASSET_CHECK_EVALUATION, ...), or LOG
    step: str | None
    level: int  # logging level
    message: str
    error: str | None = None  # a failed step's error with its traceback
    check_name: str | None = None  # ASSET_CHECK_EVALUATION only: the check, whether it passed, and why
    check_passed: bool | None = None
    check_severity: str | None = None
    check_result: str | None = None


def _run_event(entry: dg.EventLogEntry) -> RunEvent:
    event = entry.dagster_event
    fields: dict[str, Any] = {}
    if event is not None and event.is_step_failure and event.step_failure_data.error:
        fields["error"] = event.step_failure_data.error.to_string()
    if event is not None and event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = event.asset_check_evaluation_data
        result = evaluation.metadata.get("result")
        fields.update(
            check_name=evaluation.check_name,
            check_passed=evaluation.passed,
            check_severity=evaluation.severity.value,
            check_result=str(result.value) if result is not None else None,
        )
    level = entry.level if isinstance(entry.level, int) else logging.getLevelName(entry.level)  # "INFO" -> 20
    return RunEvent(
        entry.run_id,
        entry.timestamp,
        event.event_type_value if event else "LOG",
        entry.step_key,
        level,
        entry.user_message,
        **fields,
    )


def materialize(
    definitions: dg.Definitions,
    selection: list[str],
    first_day: date,
    last_day: date,
    *,
    tags: dict[str, str] | None = None,
    run_config: dict[str, Any] | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of `selection` of `definitions` (the code location's, as the caller built them) over
    first_day..last_day (a single-run range), recorded in DAGSTER_HOME.

    `on_event` is called in this thread with every event of the run as it is written (progress); Dagster's
    console logger is then switched off, so the caller's progress lines are all that is printed."""
    ensure_dagster_home()
    job = definitions.resolve_implicit_global_asset_job_def()
    run_tags = dict(tags or {})
    run_tags[HOST_TAG] = socket.gethostname()
    run_tags["dagster/asset_partition_range_start"] = first_day.isoformat()
    run_tags["dagster/asset_partition_range_end"] = last_day.isoformat()
    run_id = str(uuid.uuid4())
    if on_event is not None:
        run_config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with dg.DagsterInstance.get() as instance:
        if on_event is not None:
            instance.add_event_listener(run_id, lambda entry: on_event(_run_event(entry)))
        return job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(name) for name in selection],
            tags=run_tags,
            run_config=run_config,
            raise_on_error=False,
            run_id=run_id,
        )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """What a person needs from a failed run: each failed step's message, without a traceback."""
    messages = []
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        failure = event.step_failure_data
        if failure.user_failure_data and failure.user_failure_data.description:  # a dg.Failure: its own words
            messages.append(f"{event.step_key}: {failure.user_failure_data.description.strip()}")
        elif failure.error:
            messages.append(f"{event.step_key}: {_raised_by_the_asset(failure.error).message.strip()}")
    return "\n".join(messages) or "the run failed; see the Dagster UI for its logs"


def _raised_by_the_asset(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The error the asset's code raised: Dagster wraps it in one that only says the op failed."""
    while error.cls_name == "DagsterExecutionStepExecutionError" and error.cause is not None:
        error = error.cause
    return error


def asset_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The metadata, as plain values, of what `asset`'s step recorded about the whole run: the dg.Failure it
    raised, else its run-wide observation, else its (last) materialization. Empty when it recorded none.
    A range run's materializations each carry one partition's figures; the run's totals are the observation."""
    found: dict[str, Any] = {}
    for event in result.all_events:
        if event.step_key != asset:
            continue
        if event.is_step_failure and event.step_failure_data.user_failure_data:
            found["failure"] = event.step_failure_data.user_failure_data.metadata
        elif event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
            found["observation"] = event.asset_observation_data.asset_observation.metadata
        elif event.is_step_materialization:
            found["materialization"] = event.step_materialization_data.materialization.metadata
    metadata = found.get("failure") or found.get("observation") or found.get("materialization") or {}
    return {name: value.value for name, value in metadata.items()}


def materialized_assets(result: dg.ExecuteInProcessResult) -> set[str]:
    """Names of the assets the run materialized (at least one partition)."""
    return {
        event.asset_key.to_user_string()
        for event in result.all_events
        if event.is_step_materialization and event.asset_key
    }


@dataclass
class StaleRuns:
    """What `fail_stale_runs` found among the runs of this code location that are in progress."""

    failed: list[str] = field(default_factory=list)  # process gone: marked failed, slots freed
    alive: list[str] = field(default_factory=list)  # process still running on this machine
    unknown: list[str] = field(default_factory=list)  # not started yet, or run on another machine


def fail_stale_runs(instance: dg.DagsterInstance, job_names: set[str] | None = None) -> StaleRuns:
    """Mark failed every in-progress run of this code location whose process is dead on this machine.

    A run killed with `kill -9` stays STARTED and keeps its DuckDB pool slot, so every later run waits
    for that slot forever; the daemon cannot help, since the default run launcher has no worker health
    check. The process of a run is the one that logged its RUN_START (the run worker, or the CLI
    process of an in-process run). Failing the run does not free its pool slots: they are freed here too.
    """
    found = StaleRuns()
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=_IN_PROGRESS)):
        run = record.dagster_run
        if not _of_this_location(run, job_names):
            continue
        start = _run_start(instance, run.run_id)
        if start is None or run.tags.get(HOST_TAG, socket.gethostname()) != socket.gethostname():
            found.unknown.append(run.run_id)
            continue
        pid, started_at = start
        if _process_alive(pid, started_at):
            found.alive.append(run.run_id)
            continue
        message = (
            f"Marked failed by dify-meter: its process (pid {pid}) is gone, e.g. killed, and the run "
            "would keep its DuckDB pool slot forever."
        )
        instance.report_run_failed(run, message)
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        logger.warning("run %s (%s): %s", run.run_id, run.job_name, message)
        found.failed.append(run.run_id)
    return found


def fail_stale_runs_in_dagster_home(definitions: dg.Definitions) -> StaleRuns:
    """`fail_stale_runs` of the jobs of `definitions` on the instance in DAGSTER_HOME (created if need be)."""
    ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        return fail_stale_runs(instance, {job.name for job in definitions.resolve_all_job_defs()})


def _of_this_location(run: dg.DagsterRun, job_names: set[str] | None) -> bool:
    # In-process and shell runs (`dagster asset materialize -m`) record no location; launched runs do.
    # Without job names (a sensor evaluated outside a repository, in tests) every job counts.
    origin = run.remote_job_origin
    return (job_names is None or run.job_name in job_names) and (
        origin is None or origin.location_name == CODE_LOCATION
    )


def _run_start(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, timestamp) of the run's latest RUN_START event, None before the run started."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_START, ascending=False, limit=1
    ).records
    if not records or records[0].event_log_entry.dagster_event is None:
        return None
    entry = records[0].event_log_entry
    pid = entry.dagster_event.pid  # type: ignore[union-attr]
    return (pid, entry.timestamp) if pid else None


def _process_alive(pid: int, run_started_at: float) -> bool:
    """Whether `pid` still runs the process that started the run (not a zombie, not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    stat = _proc_stat(pid)
    if stat is None:  # no /proc (macOS): the signal test is all there is
        return True
    state, process_started_at = stat
    return state != "Z" and process_started_at <= run_started_at + _START_TIME_SLACK_SECONDS


def _proc_stat(pid: int) -> tuple[str, float] | None:
    """(state, start time as a Unix timestamp) of a process, from Linux's /proc; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    except (OSError, StopIteration):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name in parentheses may hold spaces
    state, start_ticks = fields[0], int(fields[19])
    return state, int(boot.split()[1]) + start_ticks / os.sysconf("SC_CLK_TCK")
