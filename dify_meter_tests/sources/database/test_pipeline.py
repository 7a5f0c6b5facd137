"""The database source through the whole pipeline: `dify-meter export --source database` (one Dagster run: raw
events, aggregates, checks, delivery) on the simulator's workspace written into Dify's real schema, and a day
switched between the sources is replaced, never doubled; API_Meter then receives only the documented better
values."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import duckdb
import psycopg
import pytest

from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.pg_rows import write_workspace
from dify_meter_tests.support.cli import MON, SAT, exit_code, printed_totals, truth, truth_costs
from dify_meter_tests.support.configured_cli import api_meter, configured, dify
from dify_meter_tests.support.postgres import EmbeddedPostgres

__all__ = ["api_meter", "configured", "dify"]  # fixtures, found by pytest under these names
pytestmark = pytest.mark.e2e
FRI = SAT - timedelta(days=1)
DAYS = ["--start-date", str(FRI), "--end-date", str(MON)]


@pytest.fixture
def workspace():
    """Generated from Saturday: its one message without usage metadata is on Friday evening."""
    return generate_workspace(seed=3, start_date=SAT, days=3)


def failed_checks(out: str) -> set[str]:
    return set(re.findall(r"check (\w+) did not pass", out))


def raw_rows(configured) -> dict[str, tuple[str, str | None, Decimal]]:
    """event id -> (read_from, price_source, cost) of every stored event."""
    with duckdb.connect(str(configured / "data" / "m.duckdb"), read_only=True) as conn:
        rows = conn.execute("SELECT event_id, read_from, price_source, cost FROM raw_usage_events").fetchall()
    return {event_id: (read_from, price_source, cost) for event_id, read_from, price_source, cost in rows}


def test_switching_the_source_replaces_the_days_and_delivers_only_the_better_values(
    configured, workspace, api_meter, postgres: EmbeddedPostgres, monkeypatch, capsys
) -> None:
    url = postgres.database("1.16.1", seeded=False)
    with psycopg.connect(url) as connection:
        write_workspace(connection, workspace)
    monkeypatch.setenv("DIFY_DATABASE_URL", url)
    expected = truth(workspace, FRI, MON)

    assert exit_code(["export", *DAYS]) == 0
    console_out = capsys.readouterr().out
    console = raw_rows(configured)
    assert {read_from for read_from, _, _ in console.values()} == {"console"}
    held_after_console = api_meter.totals()

    assert exit_code(["export", *DAYS, "--source", "database"]) == 0
    out = capsys.readouterr().out
    assert "read-only from Dify's PostgreSQL postgres@127.0.0.1" in out and "super-secret-pw" not in out
    # dify_numbers against the console's statistics (DIFY_API_URL is set) passes as it does for the console
    assert "dify_numbers" not in failed_checks(console_out) | failed_checks(out), out
    assert failed_checks(out) == failed_checks(console_out)
    database = raw_rows(configured)
    assert database.keys() == console.keys() and len(database) == len(expected)  # replaced, not doubled
    assert {read_from for read_from, _, _ in database.values()} == {"database"}
    better = {event_id: cost for event_id, (_, source, cost) in database.items() if source == "message_row" and cost}
    assert better, "the workspace has a message without usage metadata: the documented difference must occur"
    assert all(console[event_id][2] == 0 for event_id in better)  # unpriced on the console
    assert {event_id: row[2] for event_id, row in database.items() if event_id not in better} == {
        event_id: row[2] for event_id, row in console.items() if event_id not in better
    }
    ((requests, tokens, costs),) = printed_totals(out)
    assert (
        (requests, tokens)
        == printed_totals(console_out)[0][:2]
        == (
            len(expected),
            sum(e.total_tokens for e in expected),
        )
    )
    assert sum(costs.values()) == sum(truth_costs(expected).values()) + sum(better.values())
    held = api_meter.totals()
    assert (held.records, held.total_tokens) == (held_after_console.records, held_after_console.total_tokens)
    assert sum(held.cost_by_currency.values()) == sum(held_after_console.cost_by_currency.values()) + sum(
        better.values()
    )
    assert "changed" in out and " 0 changed" not in out  # only the keys with a better price were sent again

    monkeypatch.delenv("DIFY_API_URL")  # dify_numbers by the statistics SQL Dify itself runs
    assert exit_code(["export", *DAYS, "--source", "database"]) == 0
    out = capsys.readouterr().out
    assert failed_checks(out) == failed_checks(console_out), out
    assert "keys unchanged since the last delivery, not re-sent" in out
    assert raw_rows(configured) == database
