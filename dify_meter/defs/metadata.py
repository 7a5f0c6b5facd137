"""Turn numbers into metadata a person can read in the Dagster UI."""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import dagster as dg

from dify_meter.core.markdown import cell, markdown_table


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, limit: int = 15) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(headers, rows, limit=limit))


def money(value: Decimal) -> dg.MetadataValue:
    """Exact money as text: a float metadata value would round it."""
    return dg.MetadataValue.text(cell(value))
