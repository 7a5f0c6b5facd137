import dagster as dg

# define_asset_job returns this type; dagster exports it only from its internal module.
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from dify_meter.settings import Settings

# Which assets the daily job builds, per DIFY_OUTPUT_MODE. Only per_model is sent to API_Meter.
OUTPUT_MODE_ASSETS: dict[str, list[str]] = {
    "per_model": ["raw_usage_events", "usage_per_model", "api_meter_sent"],
    "per_user": ["raw_usage_events", "usage_per_user"],
    "per_app": ["raw_usage_events", "usage_per_app"],
    "workspace": ["raw_usage_events", "usage_workspace"],
    "all": ["raw_usage_events", "usage_per_model", "usage_per_user", "usage_per_app", "usage_workspace",
            "api_meter_sent"],
}


def build_daily_job(settings: Settings) -> UnresolvedAssetJobDefinition:
    assets = OUTPUT_MODE_ASSETS[settings.dify_output_mode]
    return dg.define_asset_job(
        "daily_usage_job",
        selection=dg.AssetSelection.assets(*assets),
        description=f"Fetch, aggregate and (per_model) deliver a window of days; DIFY_OUTPUT_MODE="
        f"{settings.dify_output_mode} selects {', '.join(assets)}.",
    )
