"""Turn numbers into metadata a person can read in the Dagster UI."""

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg

from dify_meter.core.markdown import cell, markdown_table


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, limit: int = 15) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(headers, rows, limit=limit))


def money(value: Decimal) -> dg.MetadataValue:
    """Exact money as text: a float metadata value would round it."""
    return dg.MetadataValue.text(cell(value))


def costs(metadata: dict[str, Any], prefix: str, by_currency: Mapping[str, Decimal]) -> None:
    """`{prefix}_{currency}` exact, and `{prefix}_{currency}_plot` as a float only so the UI can plot it
    over partitions (never read back or summed: money stays Decimal)."""
    for currency, value in sorted(by_currency.items()):
        metadata[f"{prefix}_{currency}"] = money(value)
        metadata[f"{prefix}_{currency}_plot"] = float(value)


def days_of(first_day: date, last_day: date) -> list[date]:
    return [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]


def add_per_partition(context: dg.AssetExecutionContext, per_day: Mapping[date, Mapping[str, Any]]) -> None:
    """Each day's own figures on its own partition's materialization: a range run must not stamp the range's
    totals on every day (Dagster 1.13 attaches them to the one event per partition, without extra events)."""
    for day, metadata in per_day.items():
        context.add_asset_metadata(metadata, partition_key=day.isoformat())
