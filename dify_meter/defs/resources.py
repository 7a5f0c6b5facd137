import dagster as dg

from dify_meter.core.logs import apply_log_level
from dify_meter.core.store import DuckDBStore
from dify_meter.settings import Settings, load_settings


class DuckDBStoreResource(dg.ConfigurableResource):
    """The DuckDB file holding raw events, aggregates, ledger, spool and caches: `path`, or else
    DIFY_METER_DUCKDB read at run time."""

    path: str | None = None

    def store(self) -> DuckDBStore:
        return DuckDBStore(self.path or load_settings().dify_meter_duckdb)


class MeterSettingsResource(dg.ConfigurableResource):
    """Dify and API_Meter settings, read from the environment at run time so secrets never enter
    Dagster's config, metadata or UI."""

    def load(self) -> Settings:
        settings = load_settings()
        apply_log_level(settings.log_level)
        return settings

