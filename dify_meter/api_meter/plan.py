"""What to send: today's per-model rows compared with what the ledger says API_Meter holds."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dify_meter.api_meter.ledger import LedgerEntry
from dify_meter.api_meter.records import DeliveryKey, PerModelRow, UsageValues, make_record
from dify_meter.core.markdown import cell, markdown_table

Change = Literal["new", "changed", "unchanged", "zeroed"]


@dataclass(frozen=True, slots=True)
class PlannedKey:
    key: DeliveryKey
    change: Change
    before: UsageValues | None  # last delivered values; None for a new key
    after: UsageValues  # the values API_Meter should hold (zeros for a zeroed key)


@dataclass(slots=True)
class DeliveryPlan:
    new: list[PlannedKey] = field(default_factory=list)
    changed: list[PlannedKey] = field(default_factory=list)
    unchanged: list[PlannedKey] = field(default_factory=list)
    zeroed: list[PlannedKey] = field(default_factory=list)  # delivered before, no usage any more
    held_back: list[DeliveryKey] = field(default_factory=list)  # neither sent nor zeroed (data errors)
    records: list[dict[str, Any]] = field(default_factory=list)  # what to send, in key order
    forced: bool = False

    @property
    def is_empty(self) -> bool:
        return not self.records

    def usage_dates(self) -> set[date]:
        """Days that have something to send."""
        return {date.fromisoformat(record["usage_date"]) for record in self.records}

    def describe(self, *, limit: int = 50) -> str:
        """A markdown summary and table of every key that is not unchanged (all keys when forced)."""
        summary = (
            f"**{len(self.records)} records to send**: {len(self.new)} new, {len(self.changed)} changed, "
            f"{len(self.zeroed)} zeroed, {len(self.unchanged)} unchanged"
        )
        if self.forced:
            summary += " (forced: unchanged keys are sent again)"
        if self.held_back:
            held = ", ".join(f"{key.usage_date} {key.provider}/{key.model}" for key in self.held_back)
            summary += f"; {len(self.held_back)} held back: {held}"
        shown = self.new + self.changed + self.zeroed + (self.unchanged if self.forced else [])
        if not shown:
            return summary + "\n\nNothing to send: API_Meter already holds these values."
        shown.sort(key=lambda planned: planned.key)
        rows = [
            (
                planned.key.usage_date.isoformat(),
                planned.key.provider,
                planned.key.model,
                planned.change,
                _before_after(planned, "total_tokens"),
                _before_after(planned, "request_count"),
                _before_after(planned, "cost"),
                planned.after.currency,
            )
            for planned in shown
        ]
        headers = ("usage_date", "provider", "model", "change", "total_tokens", "requests", "cost", "currency")
        return summary + "\n\n" + markdown_table(headers, rows, limit=limit)


def _before_after(planned: PlannedKey, name: str) -> str:
    after = cell(getattr(planned.after, name))
    if planned.before is None:
        return after
    before = cell(getattr(planned.before, name))
    return after if before == after else f"{before} → {after}"


def _classify(key: DeliveryKey, values: UsageValues, previous: LedgerEntry | None) -> PlannedKey:
    if previous is None:
        return PlannedKey(key, "new", None, values)
    if previous.payload_hash == values.payload_hash() and previous.failed_since is None:
        return PlannedKey(key, "unchanged", previous.values, values)
    if values.is_zero():
        return PlannedKey(key, "zeroed", previous.values, values)
    return PlannedKey(key, "changed", previous.values, values)


def plan_delivery(
    current_rows: Iterable[PerModelRow],
    last_delivered: Mapping[DeliveryKey, LedgerEntry],
    *,
    tenant_id: str,
    timezone: str | ZoneInfo,
    force: bool = False,
    hold_back: Collection[DeliveryKey] = (),
) -> DeliveryPlan:
    """Classify every key and build the records to send.

    `last_delivered` must cover the same days as `current_rows` (ledger.last_delivered of those days):
    a delivered key missing from the rows gets a zero record, currency as last delivered. A key whose
    last attempt may have landed unseen (`failed_since`) counts as changed. `force` re-sends every key.
    Keys in `hold_back` (e.g. two currencies in one key) are left alone: not sent, and not zeroed.
    """
    held = set(hold_back)
    plan = DeliveryPlan(forced=force, held_back=sorted(held))
    current: dict[DeliveryKey, UsageValues] = {}
    for row in current_rows:
        if row.key in held:
            continue
        if row.key in current:
            raise ValueError(
                f"two per-model rows for {tuple(row.key)}: API_Meter keeps one value per key, so the "
                "aggregate must have one row per (usage_date, provider, model)"
            )
        current[row.key] = row.values
    planned_keys = [_classify(key, values, last_delivered.get(key)) for key, values in current.items()]
    planned_keys += [
        _classify(key, UsageValues.zero(previous.values.currency), previous)
        for key, previous in last_delivered.items()
        if key not in current and key not in held
    ]
    lists = {"new": plan.new, "changed": plan.changed, "unchanged": plan.unchanged, "zeroed": plan.zeroed}
    for planned in planned_keys:
        lists[planned.change].append(planned)
    to_send = [planned for planned in planned_keys if force or planned.change != "unchanged"]
    to_send.sort(key=lambda planned: planned.key)
    plan.records = [make_record(p.key, p.after, tenant_id=tenant_id, timezone=timezone) for p in to_send]
    return plan
