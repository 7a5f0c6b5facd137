import dagster as dg

from dify_meter.defs.settings import SETTINGS
from dify_meter.settings import Settings, load_settings
from dify_meter.usage.store import DuckDBStore


class DuckDBStoreResource(dg.ConfigurableResource):
    """The DuckDB file (DIFY_METER_DUCKDB) holding raw events, aggregates, ledger, spool and caches."""

    path: str

    def store(self) -> DuckDBStore:
        return DuckDBStore(self.path)


class MeterSettingsResource(dg.ConfigurableResource):
    """Dify and API_Meter settings, read from the environment at run time so secrets never enter
    Dagster's config, metadata or UI."""

    def load(self) -> Settings:
        return load_settings()


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "duckdb_store": DuckDBStoreResource(path=SETTINGS.dify_meter_duckdb),
            "meter_settings": MeterSettingsResource(),
        }
    )
