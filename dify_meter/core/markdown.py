"""Markdown tables for people: Dagster metadata, check results and CLI summaries share them."""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from dify_meter.core.readable import decimal_text


def cell(value: Any) -> str:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, limit: int = 20) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"| … {len(rows) - limit} more rows |" + " |" * (len(headers) - 1))
    return "\n".join(lines)
