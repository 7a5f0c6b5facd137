"""One run of every asset over a 3-day range, in one Dagster run, against the simulated Dify and API_Meter.

What an operator would see after `make demo`, small enough for the suite: several tests read the same run
(the package fixture `demo_run` of dify_meter_tests/defs/conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.definitions import defs as load_defs
from dify_meter.sandbox.api_meter.server import DEFAULT_TOKEN, ApiMeterServer
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter_tests.support.settings import resources_on

# What an operator writes after reading the demo's first warnings (normalization, unpriced_usage): the community
# plugin is a provider they bill, the self-hosted and separately billed models cost nothing here.
OPERATOR_MAPPING = """
known_providers = ["someorg"]
free_models = ["ollama/llama3.1:8b", "openai_api_compatible/qwen2.5-coder-32b", "azure/prod-gpt4o-eastus",
               "openrouter/claude-haiku-4.5", "openrouter/llama-3.1-70b-instruct"]

[provider_aliases]
"someorg/someplugin/provider" = "someorg"
"""
FIRST_DAY, LAST_DAY = date(2026, 11, 10), date(2026, 11, 12)
OUR_EVENTS = {"ASSET_MATERIALIZATION", "ASSET_OBSERVATION", "ASSET_CHECK_EVALUATION", "STEP_FAILURE"}
ALL_ASSETS = [
    "raw_usage_events",
    "usage_per_model",
    "usage_per_user",
    "usage_per_app",
    "usage_workspace",
    "api_meter_sent",
]


@dataclass
class DemoRun:
    result: dg.ExecuteInProcessResult
    instance: dg.DagsterInstance
    store: DuckDBStore

    def days(self) -> list[date]:
        return [FIRST_DAY + timedelta(days=n) for n in range((LAST_DAY - FIRST_DAY).days + 1)]

    def texts(self) -> list[str]:
        """Every message the project logs and every metadata value of the run, as the UI shows them.

        Dagster's own framework messages (step started, plan of keys) are not the project's to word.
        """
        texts = []
        for entry in self.instance.all_logs(self.result.run_id):
            event = entry.dagster_event
            if event is not None and event.event_type_value not in OUR_EVENTS:
                continue
            texts.append(entry.user_message)
            data = event.event_specific_data if event else None
            for holder in (getattr(data, "materialization", None), getattr(data, "asset_observation", None), data):
                metadata = getattr(holder, "metadata", None) or {}
                texts += [_text(value) for value in metadata.values()]
        return texts


def _text(value: dg.MetadataValue) -> str:
    inner = value.value
    if isinstance(inner, dg.TableColumnLineage | dg.TableSchema):
        return ""  # structured: the UI draws them, no text of ours
    return json.dumps(inner) if isinstance(inner, dict | list) else str(inner)


def range_tags(first: date, last: date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def run_demo(home: Path) -> Iterator[DemoRun]:
    mapping = home / "mapping.toml"
    mapping.write_text(OPERATOR_MAPPING)
    workspace = generate_workspace(seed=7, start_date=FIRST_DAY - timedelta(days=1), days=5, scale=0.3)
    with DifySimulator(workspace) as dify, ApiMeterServer() as api_meter, pytest.MonkeyPatch.context() as env:
        for name, value in {
            "DIFY_API_URL": dify.base_url,
            "DIFY_API_KEY": dify.api_key,
            "DIFY_WORKSPACE_ID": dify.workspace_id,
            "DIFY_METER_DUCKDB": str(home / "m.duckdb"),
            "API_METER_URL": api_meter.base_url,
            "DIFY_METER_NORMALIZATION_FILE": str(mapping),
            "API_METER_TOKEN": DEFAULT_TOKEN,
            "API_METER_TENANT_ID": api_meter.tenant_id,
        }.items():
            env.setenv(name, value)
        store = DuckDBStore(home / "m.duckdb")
        built = load_defs()
        resources = resources_on(store.path)
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [built.get_assets_def(name) for name in ALL_ASSETS],
                resources=resources,
                instance=instance,
                tags=range_tags(FIRST_DAY, LAST_DAY),
                raise_on_error=False,
            )
            yield DemoRun(result, instance, store)
