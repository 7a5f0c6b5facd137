"""A run must be built from the same settings as the definitions that launched it.

The webserver or daemon makes a run (its partition keys, its job) from the definitions it loaded; the run
worker re-imports the code location and rebuilds them from *its* environment. If the two disagree on a
setting that shapes the partitions (e.g. DIFY_TIMEZONE), the run would read and write other days than
the ones it was launched for. The run record carries the launcher's job snapshot, and with it the
launcher's resource config: the run compares that with its own before any step runs.
"""

from __future__ import annotations

import json

import dagster as dg

BUILT_WITH_FIELD = "definitions_built_with"


class SettingsMismatchError(Exception):
    """The run's settings differ from those of the definitions that launched it."""


def launcher_settings(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, str] | None:
    """The shaping settings of the definitions that made `run`, from its job snapshot; None if it has none."""
    if run.job_snapshot_id is None:
        return None
    snapshot = instance.get_job_snapshot(run.job_snapshot_id)
    for mode in snapshot.mode_def_snaps:
        for resource in mode.resource_def_snaps:
            field = resource.config_field_snap
            if field is None or not field.default_provided or field.default_value_as_json_str is None:
                continue
            config = json.loads(field.default_value_as_json_str)
            if isinstance(config, dict) and BUILT_WITH_FIELD in config:
                return dict(config[BUILT_WITH_FIELD])
    return None


def check_launched_with_same_settings(instance: dg.DagsterInstance, run: dg.DagsterRun, own: dict[str, str]) -> None:
    launched_with = launcher_settings(instance, run)
    if launched_with is None:
        return
    differing = sorted(name for name in own.keys() | launched_with.keys() if own.get(name) != launched_with.get(name))
    if differing:
        details = "; ".join(
            f"{name} is {own.get(name, 'unset')!r} here but was {launched_with.get(name, 'unset')!r}"
            for name in differing
        )
        raise SettingsMismatchError(
            f"this run's settings differ from those of the definitions that launched it: {details}. Give the "
            "webserver, the daemon and the run workers the same environment (.env), then reload the code "
            "location and launch the run again."
        )
