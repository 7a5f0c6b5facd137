"""The run-time configuration boundary: typed resources whose fields the definitions factory fills from
its one settings object, and which build the plain objects (store, Dify source and client, API_Meter
sender). Secrets are `dg.EnvVar`s: the UI shows the variable's name, never its value.

The CLI builds its objects through the same resources (`build_resources(...).resolved()`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import Field

from dify_meter import __version__
from dify_meter.api_meter.sender import ApiMeterSender
from dify_meter.api_meter.spool import SpoolPolicy
from dify_meter.core.logs import apply_log_level
from dify_meter.core.retry import RetryPolicy
from dify_meter.core.source import DifyAppTotals, UsageSource
from dify_meter.core.store import DuckDBStore
from dify_meter.defs.run_settings import check_launched_with_same_settings
from dify_meter.settings import (
    Settings,
    SettingsError,
    load_settings,
    require_api_meter,
    require_database,
    require_dify,
)
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.source import ConsoleSource
from dify_meter.sources.console.statistics import fetch_dify_totals
from dify_meter.sources.database.sessions import DatabaseTarget
from dify_meter.sources.database.source import DatabaseSource
from dify_meter.usage.normalize import Normalizer


class DuckDBStoreResource(dg.ConfigurableResource):
    """The DuckDB file holding raw events, aggregates, ledger, spool and caches (DIFY_METER_DUCKDB)."""

    path: str

    def store(self) -> DuckDBStore:
        return DuckDBStore(self.path)


class DifyResource(dg.ConfigurableResource):
    """Where usage is read from: Dify's console API (DIFY_API_URL with an admin key or a service account), or
    Dify's PostgreSQL read-only (DIFY_DATABASE_URL), whose dify_numbers use the console when DIFY_API_URL is set."""

    source: str = "console"  # DIFY_SOURCE: a key of SOURCES
    api_url: str | None = None
    database_url: str | None = Field(default=None, repr=False)  # dg.EnvVar("DIFY_DATABASE_URL")
    database_statement_timeout_seconds: float = 300
    database_lock_timeout_seconds: float = 5
    workspace_id: str | None = None
    api_key: str | None = Field(default=None, repr=False)  # dg.EnvVar("DIFY_API_KEY")
    email: str | None = None
    password: str | None = Field(default=None, repr=False)  # dg.EnvVar("DIFY_PASSWORD")
    timezone: str = "UTC"
    detail_reads: Literal["auto", "never"] = "auto"
    max_concurrency: int = 8
    max_run_seconds: int = 3600

    def client(self, *, retry: RetryPolicy | None = None, timeout: float = 30.0) -> DifyClient:
        """The client of DIFY_API_URL, with the admin key if DIFY_API_KEY is set, else DIFY_EMAIL/DIFY_PASSWORD."""
        require_dify(
            self.api_url,
            api_key_set=self.api_key is not None,
            workspace_id=self.workspace_id,
            email=self.email,
            password_set=self.password is not None,
        )
        assert self.api_url
        if self.api_key is not None:
            return DifyClient(
                self.api_url,
                api_key=self.api_key,
                workspace_id=self.workspace_id,
                timeout=timeout,
                max_concurrency=self.max_concurrency,
                retry=retry,
            )
        return DifyClient(
            self.api_url,
            email=self.email,
            password=self.password,
            timeout=timeout,
            max_concurrency=self.max_concurrency,
            retry=retry,
        )

    def usage_source(self, store: DuckDBStore, *, retry: RetryPolicy | None = None) -> UsageSource:
        """The source DIFY_SOURCE names; `store` keeps what it caches between reads."""
        if self.source not in SOURCES:
            raise SettingsError(
                f"DIFY_SOURCE={self.source} is not a source this dify-meter knows: use {' or '.join(SOURCES)}."
            )
        return SOURCES[self.source](self, store, retry)


def console_source(dify: DifyResource, store: DuckDBStore, retry: RetryPolicy | None) -> UsageSource:
    return ConsoleSource(
        lambda: dify.client(retry=retry),
        store,
        timezone=dify.timezone,
        detail_reads=dify.detail_reads,
        max_run_seconds=dify.max_run_seconds,
    )


def database_source(dify: DifyResource, store: DuckDBStore, retry: RetryPolicy | None) -> UsageSource:
    require_database(dify.database_url is not None, dify.workspace_id)
    assert dify.database_url and dify.workspace_id
    target = DatabaseTarget(
        dify.database_url, dify.database_statement_timeout_seconds, dify.database_lock_timeout_seconds
    )

    def console_totals(window_start: datetime, window_end: datetime) -> list[DifyAppTotals]:
        with dify.client(retry=retry) as client:
            return fetch_dify_totals(client, window_start, window_end)

    return DatabaseSource(
        target, dify.workspace_id, timezone=dify.timezone, console_totals=console_totals if dify.api_url else None
    )


# DIFY_SOURCE -> how its source is built: a new source is one entry here.
SOURCES: dict[str, Callable[[DifyResource, DuckDBStore, RetryPolicy | None], UsageSource]] = {
    "console": console_source,
    "database": database_source,
}


class ApiMeterResource(dg.ConfigurableResource):
    """Where per-model usage is delivered: API_Meter's /v1/usage for one tenant."""

    url: str | None = None
    token: str | None = Field(default=None, repr=False)  # dg.EnvVar("API_METER_TOKEN")
    tenant_id: str | None = None
    batch_size: int = 500
    timeout_seconds: float = 30.0
    max_retries: int = 3

    def sender(self) -> ApiMeterSender:
        require_api_meter(self.url, token_set=self.token is not None, tenant_id=self.tenant_id)
        assert self.url and self.token and self.tenant_id
        return ApiMeterSender(
            self.url,
            self.token,
            self.tenant_id,
            exporter_version=__version__,
            batch_size=self.batch_size,
            timeout=self.timeout_seconds,
            max_retries=self.max_retries,
        )

    def spool_policy(self) -> SpoolPolicy:
        return SpoolPolicy(max_retries=self.max_retries)


class MeterResource(dg.ConfigurableResource):
    """What the pipeline itself is told: the days' timezone, the normalization file, the log level, and the
    settings that shaped the definitions (partitions, jobs), which a run checks before it starts."""

    timezone: str = "UTC"
    normalization_file: str | None = None
    log_level: Literal["debug", "info", "warn", "error"] = "info"
    definitions_built_with: dict[str, str] = {}  # variable -> value, see `shaping_settings`

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        apply_log_level(self.log_level)
        if context.run is not None and context.instance is not None:
            check_launched_with_same_settings(context.instance, context.run, self.definitions_built_with)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def normalizer(self) -> Normalizer:
        return Normalizer.load(self.normalization_file)


def _secret(name: str, value: object | None) -> str | None:
    # Only a set secret becomes an EnvVar: an EnvVar of an unset variable fails every run.
    return dg.EnvVar(name) if value is not None else None


class MeterSettingsResource(dg.ConfigurableResource):
    """The alert and delivery-deadline settings, read from the environment at run time: the alert code
    takes the whole settings object (it cuts every secret out of a message), so it is not field-typed yet."""

    def load(self) -> Settings:
        return load_settings(export_env_file=True)


@dataclass(frozen=True)
class MeterResources:
    """The code location's resources, typed."""

    duckdb_store: DuckDBStoreResource
    dify: DifyResource
    api_meter: ApiMeterResource
    meter: MeterResource
    meter_settings: MeterSettingsResource

    def by_key(self) -> dict[str, dg.ConfigurableResource]:
        """As `dg.Definitions(resources=...)` takes them: the keys are the assets' parameter names."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def resolved(self) -> MeterResources:
        """With their `dg.EnvVar`s read, for code that runs outside a Dagster run (the CLI)."""
        return MeterResources(
            **{key: resource.process_config_and_initialize() for key, resource in self.by_key().items()}
        )  # type: ignore[arg-type]


def shaping_settings(settings: Settings) -> dict[str, str]:
    """The settings the partitions and jobs are built from: a run whose own differ would read other days."""
    return {
        "DIFY_TIMEZONE": settings.dify_timezone,
        "DIFY_PARTITIONS_START": settings.dify_partitions_start.isoformat(),
        "DIFY_OUTPUT_MODE": settings.dify_output_mode,
    }


def build_resources(settings: Settings, *, secrets_from_env: bool = True) -> MeterResources:
    """The resources of the code location, filled from `settings`.

    `secrets_from_env=False` puts the secrets' values in the fields instead of `dg.EnvVar`s: for settings
    that did not come from the environment (tests)."""

    def secret(name: str) -> str | None:
        value = getattr(settings, name.lower())
        if value is None:
            return None  # an EnvVar of an unset variable would fail every run
        return dg.EnvVar(name) if secrets_from_env else value.get_secret_value()

    return MeterResources(
        duckdb_store=DuckDBStoreResource(path=settings.dify_meter_duckdb),
        dify=DifyResource(
            source=settings.dify_source,
            api_url=settings.dify_api_url,
            database_url=secret("DIFY_DATABASE_URL"),
            database_statement_timeout_seconds=settings.dify_database_statement_timeout_seconds,
            database_lock_timeout_seconds=settings.dify_database_lock_timeout_seconds,
            workspace_id=settings.dify_workspace_id,
            api_key=secret("DIFY_API_KEY"),
            email=settings.dify_email,
            password=secret("DIFY_PASSWORD"),
            timezone=settings.dify_timezone,
            detail_reads=settings.dify_detail_reads,
            max_concurrency=settings.dify_max_concurrency,
            max_run_seconds=settings.dify_max_run_seconds,
        ),
        api_meter=ApiMeterResource(
            url=settings.api_meter_url,
            token=secret("API_METER_TOKEN"),
            tenant_id=settings.api_meter_tenant_id,
            batch_size=settings.api_meter_batch_size,
            timeout_seconds=settings.api_meter_timeout_seconds,
            max_retries=settings.max_retries,
        ),
        meter=MeterResource(
            timezone=settings.dify_timezone,
            normalization_file=settings.dify_meter_normalization_file,
            log_level=settings.log_level,
            definitions_built_with=shaping_settings(settings),
        ),
        meter_settings=MeterSettingsResource(),
    )
