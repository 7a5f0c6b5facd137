import dagster as dg

# define_asset_job returns this type; dagster exports it only from its internal module.
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from dify_meter.settings import Settings
from dify_meter.usage.aggregate_modes import AGGREGATE_MODES, AggregateModeRow


# Which assets the daily job builds, per DIFY_OUTPUT_MODE. Only per_model is sent to API_Meter.
def _assets(rows: list[AggregateModeRow]) -> list[str]:
    delivered = ["api_meter_sent"] if any(row.delivered for row in rows) else []
    return ["raw_usage_events", *(row.table for row in rows), *delivered]


OUTPUT_MODE_ASSETS: dict[str, list[str]] = {row.mode: _assets([row]) for row in AGGREGATE_MODES}
OUTPUT_MODE_ASSETS["all"] = _assets(list(AGGREGATE_MODES))


def build_daily_job(settings: Settings) -> UnresolvedAssetJobDefinition:
    assets = OUTPUT_MODE_ASSETS[settings.dify_output_mode]
    return dg.define_asset_job(
        "daily_usage_job",
        selection=dg.AssetSelection.assets(*assets),
        description=f"Fetch, aggregate and (per_model) deliver a window of days; DIFY_OUTPUT_MODE="
        f"{settings.dify_output_mode} selects {', '.join(assets)}.",
    )
