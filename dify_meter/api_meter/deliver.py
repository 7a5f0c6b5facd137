"""Transform → Send: deliver the per-model rows of a window of days to API_Meter, exactly once in effect.

Plain Python shared by the `api_meter_sent` asset and the CLI. The plan is always rebuilt from the
current usage_per_model rows and the ledger, so a replay can never send an older value over a newer
one. Before sending, each day with something to send gets a spool entry (write-ahead): if the
process dies mid-send, the replay sensor finds the entry and the day is sent again (API_Meter
upserts, so a repeat is harmless). Each batch is written to the ledger as soon as API_Meter answers;
DuckDB connections are never held across an HTTP request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from dify_meter.api_meter import ledger, spool
from dify_meter.api_meter.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from dify_meter.api_meter.json_body import encode_json
from dify_meter.api_meter.plan import DeliveryPlan, plan_delivery
from dify_meter.api_meter.records import DeliveryKey, PerModelRow
from dify_meter.api_meter.report import BatchResult, SendReport
from dify_meter.api_meter.sender import ApiMeterSender
from dify_meter.core.store import DuckDBStore

IN_FLIGHT = "delivery started by {run} at {at} and did not report back (the process may have died)"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DeliveryOutcome:
    first_day: date
    last_day: date
    plan: DeliveryPlan
    dry_run: bool = False
    report: SendReport | None = None
    delivered_days: list[date] = field(default_factory=list)
    failed_days: dict[date, str] = field(default_factory=dict)  # day -> what went wrong
    permanent: bool = False
    payload_file: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed_days


def read_per_model_rows(store: DuckDBStore, first_day: date, last_day: date):
    """The window's per-model rows, the keys held back (two currencies), and each day's data version."""
    with store.connect() as conn:
        rows = conn.execute(
            "SELECT usage_date, provider, model, input_tokens, output_tokens, total_tokens, request_count, cost, "
            "currency, unpriced_events, approximate_events, currency_conflict, built_at FROM usage_per_model "
            "WHERE usage_date BETWEEN ? AND ? ORDER BY usage_date, provider, model",
            [first_day, last_day],
        ).fetchall()
        delivered_before = ledger.last_delivered(conn, _days(first_day, last_day))
    per_model = [PerModelRow(*row[:11]) for row in rows if not row[11]]
    held_back = [DeliveryKey(row[0], row[1], row[2]) for row in rows if row[11]]
    versions: dict[date, datetime] = {}
    for row in rows:
        versions[row[0]] = max(versions.get(row[0], row[12]), row[12])
    return per_model, held_back, versions, delivered_before


def _days(first_day: date, last_day: date) -> list[date]:
    return [date.fromordinal(n) for n in range(first_day.toordinal(), last_day.toordinal() + 1)]


def write_dry_run(store: DuckDBStore, outcome: DeliveryOutcome, tenant_id: str) -> Path:
    folder = store.path.parent / "dry-runs"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"api_meter_{outcome.first_day}_{outcome.last_day}_{stamp}.json"
    body = {"tenant_id": tenant_id, "records": outcome.plan.records, "diff": outcome.plan.describe()}
    path.write_bytes(encode_json(body))
    return path


def deliver_window(
    sender: ApiMeterSender,
    store: DuckDBStore,
    first_day: date,
    last_day: date,
    *,
    timezone: ZoneInfo,
    force: bool = False,
    dry_run: bool = False,
    run_id: str | None = None,
    now: Callable[[], datetime] = utc_now,
) -> DeliveryOutcome:
    """Days are those of `timezone` (DIFY_TIMEZONE); the spool replays a day at most `sender.max_retries` times."""
    rows, held_back, versions, delivered_before = read_per_model_rows(store, first_day, last_day)
    plan = plan_delivery(
        rows, delivered_before, tenant_id=sender.tenant_id, timezone=timezone, force=force, hold_back=held_back
    )
    outcome = DeliveryOutcome(first_day, last_day, plan, dry_run=dry_run)
    if dry_run:
        outcome.payload_file = write_dry_run(store, outcome, sender.tenant_id)
        return outcome

    days_to_send = sorted(plan.usage_dates())
    policy = spool.SpoolPolicy(max_retries=sender.max_retries)
    with store.connect() as conn:
        for day in days_to_send:
            spool.spool_failure(
                conn,
                day,
                IN_FLIGHT.format(run=run_id or "a manual run", at=now().isoformat()),
                permanent=False,
                now=now(),
                data_version=versions.get(day),
                policy=policy,
            )

    def write_batch(batch: BatchResult) -> None:
        with store.connect() as conn:
            ledger.record_batch(conn, batch, run_id=run_id, data_versions=versions)

    try:
        outcome.report = sender.send(plan.records, on_batch=write_batch) if plan.records else SendReport()
    except DeliveryError as error:
        outcome.report = error.report or SendReport()
        outcome.permanent = error.permanent
        failed_records = outcome.report.undelivered_records
        failed = {date.fromisoformat(record["usage_date"]) for record in failed_records}
        outcome.failed_days = {day: str(error) for day in sorted(failed)}
        not_attempted = outcome.report.not_attempted
        with store.connect() as conn:
            if not_attempted:
                ledger.record_attempt(
                    conn,
                    not_attempted,
                    outcome="failed",
                    attempted_at=now(),
                    http_status=None,
                    attempts=0,
                    response_text=ledger.NOT_ATTEMPTED,
                    run_id=run_id,
                    data_versions=versions,
                )
            for day, reason in outcome.failed_days.items():
                spool.spool_failure(
                    conn,
                    day,
                    reason,
                    error.permanent,
                    now(),
                    http_status=_status_of(error),
                    data_version=versions.get(day),
                    policy=policy,
                )
    outcome.delivered_days = [day for day in _days(first_day, last_day) if day not in outcome.failed_days]
    with store.connect() as conn:
        for day in outcome.delivered_days:
            spool.mark_resolved(conn, day, now(), resolution=f"delivered by {run_id or 'a manual run'}")
    return outcome


def _status_of(error: DeliveryError) -> int | None:
    if isinstance(error, PermanentDeliveryError):
        return error.status
    if isinstance(error, TransientDeliveryError):
        return error.last_status
    return None


def payload_preview(outcome: DeliveryOutcome, limit: int = 3) -> str:
    """The first records exactly as sent, for a person to read."""
    return json.dumps(json.loads(encode_json(outcome.plan.records[:limit])), indent=2)
