"""api_meter_sent and the spool replay, through Dagster, against the reference API_Meter over loopback."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from dify_meter.api_meter import spool
from dify_meter.core.store import DuckDBStore
from dify_meter.definitions import defs
from dify_meter.defs.delivery import SPOOL_REPLAY_TAG
from dify_meter_tests.support.delivery import DAY1, DAY2, DAY3, day_events, expected, held, load_day
from dify_meter_tests.support.events import make_event
from dify_meter_tests.support.locks import hold_write_lock
from dify_meter_tests.support.settings import resources_on

pytestmark = pytest.mark.integration
_BUILT = defs()  # the asset and sensor as the code location builds them
api_meter_sent = _BUILT.get_assets_def("api_meter_sent")
spool_replay_sensor = _BUILT.resolve_sensor_def("spool_replay_sensor")


def resources(store: DuckDBStore) -> dict:
    return resources_on(store.path)


def send(store, instance, *, partition=None, first=None, last=None, config=None, tags=None):
    run_config = {"ops": {"api_meter_sent": {"config": config}}} if config else None
    kwargs = {"partition_key": partition.isoformat()} if partition else {}
    all_tags = dict(tags or {})
    if first:
        all_tags.update(
            {
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            }
        )
    return dg.materialize(
        [api_meter_sent],
        resources=resources(store),
        instance=instance,
        raise_on_error=False,
        run_config=run_config,
        tags=all_tags,
        **kwargs,
    )


def spool_entries(store):
    with store.connect() as conn:
        return {e.usage_date: e for e in spool.list_entries(conn, statuses=("pending", "failed", "resolved"))}


def test_delivers_a_day_and_resends_nothing_unchanged(store, server):
    load_day(store, DAY1, day_events(DAY1))
    with dg.instance_for_test() as instance:
        first = send(store, instance, partition=DAY1)
        second = send(store, instance, partition=DAY1)
    assert first.success and second.success
    assert held(server) == expected(store) and len(expected(store)) == 3
    assert first.asset_materializations_for_node("api_meter_sent")[0].metadata["records_sent"].value == 3
    meta = second.asset_materializations_for_node("api_meter_sent")[0].metadata
    assert meta["records_sent"].value == 0 and meta["unchanged_keys"].value == 3
    assert len(server.request_log) == 1


def test_a_changed_key_is_resent_and_a_vanished_key_is_zeroed(store, server):
    load_day(store, DAY1, day_events(DAY1))
    with dg.instance_for_test() as instance:
        send(store, instance, partition=DAY1)
        load_day(store, DAY1, day_events(DAY1, scale=2)[:1] + day_events(DAY1)[2:])  # anthropic disappears
        result = send(store, instance, partition=DAY1)
    meta = result.asset_materializations_for_node("api_meter_sent")[0].metadata
    assert (meta["changed_keys"].value, meta["zeroed_keys"].value, meta["records_sent"].value) == (1, 1, 2)
    stored = held(server)
    assert stored[(str(DAY1), "anthropic", "claude-3-5-sonnet-20241022")] == (0, 0, Decimal(0), "USD")
    assert {k: v for k, v in stored.items() if v[0]} == expected(store)


def test_dry_run_sends_nothing_and_writes_payloads_and_diff(store, server):
    load_day(store, DAY1, day_events(DAY1))
    with dg.instance_for_test() as instance:
        result = send(store, instance, partition=DAY1, config={"dry_run": True})
        assert result.success and not result.asset_materializations_for_node("api_meter_sent")
        observation = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"][0]
    assert server.request_log == []
    metadata = observation.event_specific_data.asset_observation.metadata
    assert "3 records to send" in metadata["plan"].value and "3 new" in metadata["plan"].value
    payload = Path(metadata["payload_file"].value)
    assert '"cost_actual":0.0012345' in payload.read_text().replace(" ", "")


def test_forced_resend_sends_unchanged_keys(store, server):
    load_day(store, DAY1, day_events(DAY1))
    with dg.instance_for_test() as instance:
        send(store, instance, partition=DAY1)
        result = send(store, instance, partition=DAY1, config={"force": True})
    assert result.asset_materializations_for_node("api_meter_sent")[0].metadata["records_sent"].value == 3


def test_range_run_records_delivered_days_and_fails_naming_the_others(store, server, monkeypatch):
    monkeypatch.setenv("API_METER_BATCH_SIZE", "3")  # one day per request
    for day in (DAY1, DAY2, DAY3):
        load_day(store, day, day_events(day))
    server.fail_next(5, status=503)
    with dg.instance_for_test() as instance:
        # the first request fails: DAY1 fails; nothing after it is attempted
        result = send(store, instance, first=DAY1, last=DAY3)
        assert not result.success
        server.fail_next(0)
        with store.connect() as conn:
            conn.execute("UPDATE api_meter_spool SET next_attempt_at = now() - INTERVAL 1 MINUTE")
        recovered = send(store, instance, first=DAY1, last=DAY3)
        materialized = instance.get_materialized_partitions(api_meter_sent.key)
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "API_Meter delivery failed for 2026-11-10, 2026-11-11, 2026-11-12" in failure.message + str(
        failure.event_specific_data.error
    )
    assert recovered.success and materialized == {str(DAY1), str(DAY2), str(DAY3)}
    assert held(server) == expected(store)
    assert all(e.status == "resolved" for e in spool_entries(store).values())


def test_partial_range_failure_materializes_only_the_delivered_day(store, server, monkeypatch):
    monkeypatch.setenv("API_METER_BATCH_SIZE", "3")  # one day per request
    load_day(store, DAY1, day_events(DAY1))
    load_day(store, DAY2, [make_event(f"{DAY2}-huge", DAY2, model_raw="gpt-4o-" + "x" * 4000)])
    server.max_body_bytes = 4000  # DAY1's request fits; DAY2's single record never does (413, cannot split)
    with dg.instance_for_test() as instance:
        result = send(store, instance, first=DAY1, last=DAY2)
        materialized = instance.get_materialized_partitions(api_meter_sent.key)
    assert not result.success and materialized == {str(DAY1)}
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = str(failure.event_specific_data.error)
    assert "API_Meter delivery failed for 2026-11-11" in text and "Delivered: 2026-11-10" in text
    entries = spool_entries(store)
    assert entries[DAY2].status == "failed" and entries[DAY2].permanent and entries[DAY2].http_status == 413
    assert DAY1 not in entries or entries[DAY1].status == "resolved"


def test_a_wrong_token_is_a_permanent_failure_that_names_the_setting(store, server, monkeypatch):
    load_day(store, DAY1, day_events(DAY1))
    monkeypatch.setenv("API_METER_TOKEN", "wrong-token")
    with dg.instance_for_test() as instance:
        result = send(store, instance, partition=DAY1)
    assert not result.success and server.records() == {}
    entry = spool_entries(store)[DAY1]
    assert entry.status == "failed" and entry.permanent and entry.http_status == 401
    assert "API_METER_TOKEN" in entry.last_error and "wrong-token" not in entry.last_error


def test_sensor_replays_due_days_skips_when_locked_and_never_sends_stale_values(store, server, monkeypatch):
    monkeypatch.setenv("MAX_RETRIES", "2")
    load_day(store, DAY1, day_events(DAY1))
    server.fail_next(3, status=500)
    with dg.instance_for_test() as instance:
        assert not send(store, instance, partition=DAY1).success
        context = dg.build_sensor_context(instance=instance, resources=resources(store))
        assert isinstance(spool_replay_sensor(context), dg.SkipReason)  # backoff not due yet
        with store.connect() as conn:
            conn.execute("UPDATE api_meter_spool SET next_attempt_at = now() - INTERVAL 1 MINUTE")
        ctx = multiprocessing.get_context("spawn")
        ready, release = ctx.Event(), ctx.Event()
        holder = ctx.Process(target=hold_write_lock, args=(str(store.path), ready, release))  # a run writing
        holder.start()
        try:
            assert ready.wait(30)
            skip = spool_replay_sensor(dg.build_sensor_context(instance=instance, resources=resources(store)))
            assert isinstance(skip, dg.SkipReason) and "locked" in skip.skip_message
        finally:
            release.set()
            holder.join(30)
        result = spool_replay_sensor(dg.build_sensor_context(instance=instance, resources=resources(store)))
        (request,) = result.run_requests
        assert request.partition_key == str(DAY1) and request.run_key == f"spool-replay:{DAY1}:1"
        # Meanwhile the day was re-read with more usage and delivered: the stale entry must not be replayed.
        load_day(store, DAY1, day_events(DAY1, scale=5))
        replay = send(store, instance, partition=DAY1, tags={SPOOL_REPLAY_TAG: "true"})
        after = spool_replay_sensor(dg.build_sensor_context(instance=instance, resources=resources(store)))
    assert replay.success and isinstance(after, dg.SkipReason)
    assert held(server) == expected(store)  # the newest values, whatever the order of events
    assert spool_entries(store)[DAY1].status == "resolved"


def test_a_pending_entry_superseded_by_a_newer_delivery_is_not_replayed(store, server):
    load_day(store, DAY1, day_events(DAY1))
    with store.connect() as conn:
        spool.spool_failure(
            conn,
            DAY1,
            "old failure",
            False,
            datetime.now(UTC) - timedelta(hours=1),
            data_version=datetime.now(UTC) - timedelta(hours=2),
        )
    with dg.instance_for_test() as instance:
        with store.connect() as conn:  # keep the entry open as if another process had spooled it after a delivery
            send(store, instance, partition=DAY1)
            conn.execute(
                "UPDATE api_meter_spool SET status = 'pending', "
                "next_attempt_at = now() - INTERVAL 1 MINUTE, last_failed_at = now() - INTERVAL 1 HOUR"
            )
        assert isinstance(
            spool_replay_sensor(dg.build_sensor_context(instance=instance, resources=resources(store))), dg.SkipReason
        )


CHILD = textwrap.dedent("""
    import os, signal, sys
    from datetime import date
    from dify_meter.api_meter import ledger
    from dify_meter.api_meter.deliver import deliver_window
    from dify_meter.defs.resources import build_resources
    from dify_meter.settings import load_settings
    from dify_meter.core.store import DuckDBStore

    def killed(*args, **kwargs):  # the process dies after API_Meter applied the batch, before the ledger write
        os.kill(os.getpid(), signal.SIGKILL)

    ledger.record_batch = killed
    day = date.fromisoformat(sys.argv[1])
    settings = load_settings()
    deliver_window(build_resources(settings).resolved().api_meter.sender(), DuckDBStore(settings.dify_meter_duckdb),
                   day, day, timezone=settings.timezone, run_id="doomed")
""")


def test_a_process_killed_between_sending_and_the_ledger_is_replayed_exactly(store, server, monkeypatch):
    monkeypatch.setenv("MAX_RETRIES", "1")
    load_day(store, DAY1, day_events(DAY1))
    child = subprocess.run([sys.executable, "-c", CHILD, str(DAY1)], env=dict(os.environ), timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert held(server) == expected(store)  # API_Meter applied it ...
    entry = spool_entries(store)[DAY1]  # ... and the write-ahead spool entry says the send did not report back
    assert entry.status == "pending" and "did not report back" in entry.last_error
    with store.connect() as conn:
        conn.execute("UPDATE api_meter_spool SET next_attempt_at = now() - INTERVAL 1 MINUTE")
    with dg.instance_for_test() as instance:
        (request,) = spool_replay_sensor(
            dg.build_sensor_context(instance=instance, resources=resources(store))
        ).run_requests
        replay = send(store, instance, partition=date.fromisoformat(request.partition_key), tags=request.tags)
    assert replay.success
    assert held(server) == expected(store)
    assert spool_entries(store)[DAY1].status == "resolved"
    assert sum(1 for r in server.request_log if r.status == 200) == 2  # sent again: an upsert, totals unchanged
