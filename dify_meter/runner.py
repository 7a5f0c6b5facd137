"""Run assets through the Dagster instance in DAGSTER_HOME, so CLI runs appear in the UI like any other."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = Path("data/dagster_home")


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME, or data/dagster_home, created with the project's dagster.yaml if it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def materialize(
    selection: list[str], first_day: date, last_day: date, *, tags: dict[str, str] | None = None,
    run_config: dict[str, Any] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of `selection` over first_day..last_day (a single-run range), recorded in DAGSTER_HOME."""
    ensure_dagster_home()
    from dify_meter.definitions import defs

    job = defs().resolve_implicit_global_asset_job_def()
    run_tags = dict(tags or {})
    run_tags["dagster/asset_partition_range_start"] = first_day.isoformat()
    run_tags["dagster/asset_partition_range_end"] = last_day.isoformat()
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(name) for name in selection], tags=run_tags,
            run_config=run_config, raise_on_error=False,
        )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """What a person needs from a failed run: each failed step's message, without a traceback."""
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            messages.append(f"{event.step_key}: {event.step_failure_data.error.message.strip()}")
    return "\n".join(messages) or "the run failed; see the Dagster UI for its logs"
