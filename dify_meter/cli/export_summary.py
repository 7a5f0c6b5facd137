"""The tables `dify-meter export` ends with: usage of the exported days per mode (and per week or month
when asked), and what happened with API_Meter. Read from DuckDB after the run, so they show what is stored."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb

from dify_meter.api_meter import spool
from dify_meter.core.markdown import cell, markdown_table
from dify_meter.usage.aggregate_modes import AGGREGATE_TABLES, BY_MODE
from dify_meter.usage.rollups import PERIOD_UNITS

SUMS = ("sum(request_count)", "sum(input_tokens)", "sum(output_tokens)", "sum(total_tokens)", "sum(cost)")
SUM_HEADERS = ("requests", "input", "output", "total tokens", "cost")


@dataclass(frozen=True)
class Totals:
    requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_by_currency: dict[str, Decimal]

    def describe(self) -> str:
        costs = " + ".join(f"{cell(amount)} {currency}" for currency, amount in sorted(self.cost_by_currency.items()))
        return (
            f"{self.requests:,} requests, {self.total_tokens:,} tokens ({self.input_tokens:,} in, "
            f"{self.output_tokens:,} out), cost {costs or '0'}"
        )


def _period_column(mode: str, period: str) -> tuple[str, str] | None:
    """(header, SQL) of the leading period column: weeks and months when asked; days for the workspace."""
    if period in PERIOD_UNITS:
        unit = PERIOD_UNITS[period]
        return f"{unit} of", f"date_trunc('{unit}', usage_date)::DATE"
    return ("day", "usage_date") if mode == "workspace" else None


def usage_table(
    conn: duckdb.DuckDBPyConnection, mode: str, period: str, first_day: date, last_day: date, *, limit: int = 40
) -> str:
    """The mode's table over the exported days: summed per key (and per week or month when asked)."""
    spec = BY_MODE[mode]
    key_headers = tuple(header for header, _ in spec.summary_columns)
    key_columns = tuple(column for _, column in spec.summary_columns)
    period_column = _period_column(mode, period)
    headers = ((period_column[0],) if period_column else ()) + key_headers + SUM_HEADERS + ("currency",)
    columns = ((period_column[1],) if period_column else ()) + key_columns + SUMS + ("currency",)
    # Periods in time order, then the biggest users of tokens first; keys break ties.
    first_key = 2 if period_column else 1
    order = (["1"] if period_column else []) + [f"{columns.index('sum(total_tokens)') + 1} DESC"]
    order += [str(position) for position in range(first_key, first_key + len(key_columns))] + [str(len(columns))]
    rows = conn.execute(
        f"SELECT {', '.join(columns)} FROM {AGGREGATE_TABLES[mode]} WHERE usage_date BETWEEN ? AND ? "
        f"GROUP BY ALL ORDER BY {', '.join(order)}",
        [first_day, last_day],
    ).fetchall()
    span = f"{first_day} .. {last_day}"
    title = f"{spec.title}, {span}" + (f", per {PERIOD_UNITS[period]}" if period in PERIOD_UNITS else "")
    note = ""
    if period in PERIOD_UNITS:
        weeks = " Weeks are ISO weeks, Monday first." if period == "weekly" else ""
        note = (
            f"\n(The exported days only; view {AGGREGATE_TABLES[mode]}_{period} rolls up every day in DuckDB.{weeks})"
        )
    return f"{title}:\n\n{markdown_table(headers, rows, limit=limit)}{note}"


def usage_totals(conn: duckdb.DuckDBPyConnection, mode: str, first_day: date, last_day: date) -> Totals:
    rows = conn.execute(
        f"SELECT currency, {', '.join(SUMS)} FROM {AGGREGATE_TABLES[mode]} WHERE usage_date BETWEEN ? AND ? "
        "GROUP BY currency",
        [first_day, last_day],
    ).fetchall()
    costs: dict[str, Decimal] = defaultdict(Decimal)
    for currency, _, _, _, _, cost in rows:
        costs[currency] += cost
    return Totals(
        requests=sum(int(row[1]) for row in rows),
        input_tokens=sum(int(row[2]) for row in rows),
        output_tokens=sum(int(row[3]) for row in rows),
        total_tokens=sum(int(row[4]) for row in rows),
        cost_by_currency=dict(costs),
    )


def held_back_keys(conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> list[str]:
    rows = conn.execute(
        "SELECT usage_date, provider, model FROM usage_per_model WHERE currency_conflict "
        "AND usage_date BETWEEN ? AND ? ORDER BY ALL",
        [first_day, last_day],
    ).fetchall()
    return [f"{day} {provider}/{model}" for day, provider, model in rows]


def spooled_days(conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> list[str]:
    days = []
    for entry in spool.list_entries(conn, statuses=("pending", "failed")):
        if first_day <= entry.usage_date <= last_day:
            then = (
                "spool_replay_sensor retries it"
                if entry.status == "pending"
                else f"waits for you: dify-meter spool replay --date {entry.usage_date}"
            )
            days.append(f"{entry.usage_date} {entry.status} ({then})")
    return days


def delivery_summary(delivery: dict[str, Any], *, held_back: list[str], spooled: list[str], force: bool) -> str:
    """What was sent to API_Meter, held back, left unchanged or spooled, from api_meter_sent's metadata."""
    if delivery.get("dry_run"):
        return (
            f"Dry run: nothing was sent to API_Meter. What a delivery would change:\n\n{delivery.get('plan', '')}"
            f"\n\nThe exact payload is in {delivery.get('payload_file')}"
        )
    lines = []
    if "records_sent" in delivery:
        new, changed, zeroed = (delivery.get(name, 0) for name in ("new_keys", "changed_keys", "zeroed_keys"))
        unchanged = delivery.get("unchanged_keys", 0)
        to_send = new + changed + zeroed + (unchanged if force else 0)
        if to_send:
            lines.append(
                f"API_Meter: {delivery['records_sent']} of {_count(to_send, 'record')} delivered ({new} new, "
                f"{changed} changed, {zeroed} zeroed{f', {unchanged} unchanged sent again (--force)' if force else ''})"
                f" in {_count(delivery.get('requests', 0), 'request')}: {delivery.get('inserted', 0)} inserted, "
                f"{delivery.get('updated', 0)} updated."
            )
        if unchanged and not force:
            lines.append(f"API_Meter: {_count(unchanged, 'key')} unchanged since the last delivery, not re-sent.")
        if not to_send and not unchanged:
            lines.append("API_Meter: nothing to send (no usage in these days).")
    if held_back:
        lines.append(f"Held back (two currencies in one key; see the currency check): {', '.join(held_back)}.")
    if spooled:
        lines.append("Days in the spool: " + "; ".join(spooled) + ".")
    return "\n".join(lines)


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" + ("" if number == 1 else "s")
