"""Every setting of docs/configuration.md, read from the environment and `.env`.

Malformed values stop the program with a message naming the variable and the expected form.
Settings that only some commands need (Dify credentials, API_Meter) are optional here and
demanded by `require_dify()` / `require_api_meter()` when they are used, so the Dagster code
location still loads (and shows what is missing) on a machine that is not configured yet.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from functools import cached_property
from typing import Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dify_meter.core.validation import canonical_uuid, http_url, is_loopback_host

DifySource = Literal["console", "database"]
DIFY_SOURCES: tuple[str, ...] = get_args(DifySource)  # DIFY_SOURCE's values; defs/resources.py builds each


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and the expected form."""


def _first_and_last_of_previous_month(today: date) -> tuple[date, date]:
    first_this = today.replace(day=1)
    last_prev = first_this - timedelta(days=1)
    return last_prev.replace(day=1), last_prev


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    dify_api_url: str | None = None
    dify_api_key: SecretStr | None = None
    dify_workspace_id: str | None = None
    dify_email: str | None = None
    dify_password: SecretStr | None = None
    dify_timezone: str = "UTC"
    dify_partitions_start: date = date(2025, 1, 1)
    dify_start_date: date | None = None
    dify_end_date: date | None = None
    dify_aggregation_period: Literal["daily", "weekly", "monthly"] = "daily"
    dify_output_mode: Literal["per_model", "per_user", "per_app", "workspace", "all"] = "per_model"
    dify_max_run_seconds: int = Field(default=3600, ge=0)
    dify_max_concurrency: int = Field(default=8, ge=1, le=64)
    dify_detail_reads: Literal["auto", "never"] = "auto"
    dify_lookback_days: int = Field(default=2, ge=0, le=60)
    dify_meter_duckdb: str = "data/dify_meter.duckdb"
    dify_meter_normalization_file: str | None = None
    api_meter_url: str | None = None
    api_meter_token: SecretStr | None = None
    api_meter_tenant_id: str | None = None
    api_meter_batch_size: int = Field(default=500, ge=1, le=10000)
    api_meter_timeout_seconds: float = Field(default=30, gt=0)
    max_retries: int = Field(default=3, ge=0, le=20)
    schedule_enabled: bool = False
    schedule_cron: str = "0 1 * * *"
    log_level: Literal["debug", "info", "warn", "error"] = "info"
    dify_source: DifySource = "console"
    dify_database_url: SecretStr | None = None  # postgresql://user:password@host:port/db (read-only role)
    dify_database_statement_timeout_seconds: float = Field(default=300, gt=0, le=86400)
    dify_database_lock_timeout_seconds: float = Field(default=5, gt=0, le=3600)
    dify_meter_alert_webhook_url: SecretStr | None = None  # a Slack webhook URL carries its credential
    dify_meter_ui_url: str | None = None
    dify_meter_delivery_deadline_hours: int = Field(default=30, ge=1, le=720)
    dagster_pg_url: SecretStr | None = None  # the Dagster instance's PostgreSQL (read by dagster.yaml)

    @field_validator(
        "dify_api_url",
        "dify_workspace_id",
        "dify_email",
        "dify_meter_normalization_file",
        "api_meter_url",
        "api_meter_tenant_id",
        "dify_start_date",
        "dify_end_date",
        "dify_api_key",
        "dify_password",
        "api_meter_token",
        "dify_database_url",
        "dify_meter_alert_webhook_url",
        "dify_meter_ui_url",
        "dagster_pg_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "dify_output_mode", "dify_aggregation_period", "dify_detail_reads", "log_level", "dify_source", mode="before"
    )
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("dify_timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"expected an IANA timezone name such as UTC or Europe/Berlin, got {value!r}") from exc
        return value

    @field_validator("dify_meter_alert_webhook_url")
    @classmethod
    def _valid_webhook(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value().strip())
        # The value is a credential: the message names the expected form, never the value.
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(parts.hostname)):
            raise ValueError(
                "expected an https:// webhook URL such as https://hooks.slack.com/services/... "
                "(http:// only for loopback hosts)"
            )
        if not parts.hostname:
            raise ValueError("expected an https:// webhook URL with a host, such as https://hooks.slack.com/...")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("dagster_pg_url")
    @classmethod
    def _valid_pg_url(cls, value: SecretStr | None) -> SecretStr | None:
        # dagster-postgres drives psycopg2: SQLAlchemy 2.1 picks psycopg 3 for a bare postgresql:// URL.
        if value is not None and urlsplit(value.get_secret_value().strip()).scheme != "postgresql+psycopg2":
            raise ValueError(
                "expected a postgresql+psycopg2:// URL such as postgresql+psycopg2://dagster:PASSWORD@db:5432/dagster"
            )
        return value

    @field_validator("dify_meter_ui_url")
    @classmethod
    def _valid_ui_url(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)

    @field_validator("dify_api_url")
    @classmethod
    def _valid_dify_url(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)

    @field_validator("dify_database_url")
    @classmethod
    def _valid_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        # the message names the scheme only: the URL holds the password
        if value is not None and urlsplit(value.get_secret_value().strip()).scheme not in ("postgresql", "postgres"):
            raise ValueError("expected a postgresql://user:password@host:port/database URL")
        return value

    @field_validator("api_meter_url")
    @classmethod
    def _valid_api_meter_url(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value, https_unless_loopback=True)

    @field_validator("api_meter_tenant_id")
    @classmethod
    def _valid_uuid(cls, value: str | None) -> str | None:
        return None if value is None else canonical_uuid(value)

    @field_validator("schedule_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(value):
            raise ValueError(f"expected a 5-field cron expression such as '0 1 * * *', got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.dify_start_date and self.dify_end_date and self.dify_start_date > self.dify_end_date:
            raise ValueError(f"DIFY_START_DATE ({self.dify_start_date}) is after DIFY_END_DATE ({self.dify_end_date})")
        if self.dify_source == "database":
            require_database(self.dify_database_url is not None, self.dify_workspace_id)
        return self

    def secret_values(self) -> list[str]:
        """Every secret's value, so text leaving the process (alerts) can be scrubbed of them."""
        secrets = (
            self.dify_api_key,
            self.dify_password,
            self.api_meter_token,
            self.dify_database_url,
            self.dify_meter_alert_webhook_url,
            self.dagster_pg_url,
        )
        return [secret.get_secret_value() for secret in secrets if secret is not None and secret.get_secret_value()]

    @cached_property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.dify_timezone)

    def default_export_range(self, today: date) -> tuple[date, date]:
        """DIFY_START_DATE..DIFY_END_DATE, each defaulting to the previous calendar month."""
        first, last = _first_and_last_of_previous_month(today)
        return self.dify_start_date or first, self.dify_end_date or last

    def require_dify(self) -> None:
        """Raise SettingsError unless DIFY_SOURCE can be read: the database's URL and tenant, or the console with
        one complete auth mode (also optional for the database source, for Dify's statistics)."""
        if self.dify_source == "database":
            require_database(self.dify_database_url is not None, self.dify_workspace_id)
            if not self.dify_api_url:
                return
        require_dify(
            self.dify_api_url,
            api_key_set=self.dify_api_key is not None,
            workspace_id=self.dify_workspace_id,
            email=self.dify_email,
            password_set=self.dify_password is not None,
        )

    def require_api_meter(self) -> None:
        require_api_meter(
            self.api_meter_url, token_set=self.api_meter_token is not None, tenant_id=self.api_meter_tenant_id
        )


def require_dify(
    api_url: str | None, *, api_key_set: bool, workspace_id: str | None, email: str | None, password_set: bool
) -> None:
    """Raise SettingsError unless Dify can be reached with one complete auth mode (the settings, or the
    fields of the Dagster resource made from them)."""
    if not api_url:
        raise SettingsError("DIFY_API_URL is required: the base URL of Dify, e.g. https://dify.example.com")
    if api_key_set:
        if not workspace_id:
            raise SettingsError(
                "DIFY_WORKSPACE_ID is required with DIFY_API_KEY: the workspace (tenant) id that Dify "
                "expects in the X-WORKSPACE-ID header"
            )
        return
    if email and password_set:
        return
    raise SettingsError(
        "Dify credentials are missing: set DIFY_API_KEY and DIFY_WORKSPACE_ID (admin API key), "
        "or DIFY_EMAIL and DIFY_PASSWORD (service account)"
    )


def require_database(url_set: bool, workspace_id: str | None) -> None:
    if not url_set or not workspace_id:
        raise SettingsError(
            "DIFY_SOURCE=database needs DIFY_DATABASE_URL (postgresql://role:password@host:port/dify, a read-only "
            "role: docs/dify-database-grants.sql) and DIFY_WORKSPACE_ID (the tenant id, Dify's tenants.id)"
        )


def require_api_meter(url: str | None, *, token_set: bool, tenant_id: str | None) -> None:
    missing = [
        name
        for name, present in (
            ("API_METER_URL", url is not None),
            ("API_METER_TOKEN", token_set),
            ("API_METER_TENANT_ID", tenant_id is not None),
        )
        if not present
    ]
    if missing:
        raise SettingsError(f"{', '.join(missing)} required to send to API_Meter (see docs/configuration.md)")


def export_dot_env(path: str | os.PathLike[str] = ".env") -> None:
    """Copy what `path` sets into os.environ, never over a variable set there.

    pydantic-settings reads `.env` itself, but Dagster resolves a resource's `dg.EnvVar` secrets from
    os.environ when a run starts: without this, a secret set only in `.env` would be missing there."""
    for name, value in dotenv_values(path).items():
        if value is not None:
            os.environ.setdefault(name.upper(), value)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]).upper() or "configuration"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}" if item["loc"] else message)
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(*, export_env_file: bool = False, **overrides: object) -> Settings:
    """Read the environment and `.env`; raise SettingsError naming each bad variable.

    `export_env_file`: also copy `.env` into os.environ (`export_dot_env`), as the composition roots
    (code location, CLI) do so that the resources' `dg.EnvVar` secrets resolve at run time.
    The raw input value is never echoed for secrets: pydantic's messages only quote our own text.
    """
    if export_env_file:
        export_dot_env()
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
