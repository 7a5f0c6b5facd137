"""Per-model rows and records shared by the API_Meter tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from dify_meter.api_meter.records import PerModelRow, build_records

TENANT_ID = "12345678-1234-1234-1234-123456789abc"
OTHER_TENANT_ID = "87654321-4321-4321-4321-cba987654321"
TOKEN = "sandbox-api-meter-token"
DAY = date(2025, 12, 5)


def sample_rows(count: int, *, day: date = DAY, provider: str = "openai") -> list[PerModelRow]:
    """`count` distinct models of one day, with costs that float cannot hold exactly."""
    return [
        PerModelRow(
            usage_date=day,
            provider=provider,
            model=f"gpt-test-{index}",
            input_tokens=1000 + index,
            output_tokens=500 + 2 * index,
            total_tokens=1500 + 3 * index,
            request_count=3 + index,
            cost=Decimal("0.1") + Decimal(index) * Decimal("0.0000000007"),
            currency="USD",
        )
        for index in range(count)
    ]


def sample_records(count: int, *, day: date = DAY, timezone: str = "UTC") -> list[dict[str, Any]]:
    return build_records(sample_rows(count, day=day), tenant_id=TENANT_ID, timezone=timezone)


def expected_totals(rows: list[PerModelRow]) -> tuple[int, int, int, int, Decimal]:
    return (
        sum(row.input_tokens for row in rows),
        sum(row.output_tokens for row in rows),
        sum(row.total_tokens for row in rows),
        sum(row.request_count for row in rows),
        sum((row.cost for row in rows), Decimal(0)),
    )
