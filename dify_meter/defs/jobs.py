import dagster as dg

from dify_meter.defs.settings import SETTINGS
from dify_meter.usage.aggregate_modes import AGGREGATE_MODES, AggregateModeRow


# Which assets the daily job builds, per DIFY_OUTPUT_MODE. Only per_model is sent to API_Meter.
def _assets(rows: list[AggregateModeRow]) -> list[str]:
    delivered = ["api_meter_sent"] if any(row.delivered for row in rows) else []
    return ["raw_usage_events", *(row.table for row in rows), *delivered]


OUTPUT_MODE_ASSETS: dict[str, list[str]] = {row.mode: _assets([row]) for row in AGGREGATE_MODES}
OUTPUT_MODE_ASSETS["all"] = _assets(list(AGGREGATE_MODES))

daily_usage_job = dg.define_asset_job(
    "daily_usage_job",
    selection=dg.AssetSelection.assets(*OUTPUT_MODE_ASSETS[SETTINGS.dify_output_mode]),
    description=f"Fetch, aggregate and (per_model) deliver a window of days; DIFY_OUTPUT_MODE="
    f"{SETTINGS.dify_output_mode} selects {', '.join(OUTPUT_MODE_ASSETS[SETTINGS.dify_output_mode])}.",
)
