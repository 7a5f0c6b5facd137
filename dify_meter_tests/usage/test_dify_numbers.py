"""The checks that compare the extraction with Dify's own statistics, on the recorded fixture workspace."""

from __future__ import annotations

from datetime import date

import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.usage.checks import check_approximate_usage, check_dify_numbers
from dify_meter_tests.support.events import day_window
from dify_meter_tests.support.fixture_files import SEED_FILE
from dify_meter_tests.support.settings import refresh_raw, settings_for

pytestmark = pytest.mark.integration
NOV10, NOV11 = date(2026, 11, 10), date(2026, 11, 11)


def run(tmp_path, detail_reads: str):
    store = DuckDBStore(tmp_path / "m.duckdb")
    start, end = day_window(NOV10, NOV11, "America/New_York")
    with DifySimulator(fixture_workspace(SEED_FILE)) as simulator:
        settings = settings_for(simulator, store, "America/New_York").model_copy(
            update={"dify_detail_reads": detail_reads}
        )
        refresh = refresh_raw(settings, store, start, end)
    return store, refresh


def explanation_of(table: str, app: str) -> str:
    row = next(line for line in table.splitlines() if line.startswith(f"| {app} |"))
    return row.rstrip(" |").rsplit("| ", 1)[1]


def test_dify_numbers_explain_the_debugger_difference(tmp_path):
    store, refresh = run(tmp_path, "auto")
    by_app = {t.app_name: t for t in refresh.dify_totals}
    assert by_app["Support Chat"].tokens == 2815 + 1070  # the recorded token-costs of Nov 10 and 11
    with store.connect() as conn:
        outcome = check_dify_numbers(conn, NOV10, NOV11, refresh.dify_totals, refresh.skipped_app_ids)
    assert outcome.passed and outcome.severity == "WARN"  # explained: nothing for a person to do
    assert outcome.facts["apps_compared"] == 5 and outcome.facts["apps_unexplained"] == 0
    assert outcome.facts["apps_explained"] == 1 and "Support Chat" in outcome.summary
    table = outcome.tables["per_app"]
    assert explanation_of(table, "Support Chat").startswith("more here: debugger conversations")
    assert "1,998 more tokens, within the 2,498 tokens of console-account conversations (slack 500)" in table
    for app in ("Research Agent", "Summarizer", "Helpdesk Flow", "Local Llama"):
        assert explanation_of(table, app) == "match", app
    with store.connect() as conn:
        assert check_approximate_usage(conn, NOV10, NOV11, refresh.dify_totals, refresh.skipped_app_ids).passed


def test_never_mode_reports_approximate_and_skipped_usage(tmp_path):
    store, refresh = run(tmp_path, "never")
    with store.connect() as conn:
        outcome = check_approximate_usage(conn, NOV10, NOV11, refresh.dify_totals, refresh.skipped_app_ids)
        numbers = check_dify_numbers(conn, NOV10, NOV11, refresh.dify_totals, refresh.skipped_app_ids)
    assert not outcome.passed and outcome.severity == "WARN"
    assert outcome.facts["skipped_apps"] == 1 and outcome.facts["skipped_tokens_per_dify"] == 5150
    assert outcome.facts["approximate_events"] > 0
    assert "Summarizer" in outcome.tables["skipped"]
    assert explanation_of(numbers.tables["per_app"], "Summarizer").startswith("skipped")


@pytest.mark.parametrize(
    ("fault", "app"),
    [
        # More than console accounts used: debugger traffic cannot explain it.
        ("UPDATE raw_usage_events SET user_type = 'end_user' WHERE app_name = 'Support Chat'", "Support Chat"),
        # Advanced-chat apps must match exactly: their debugger runs are not listed by the console.
        (
            "UPDATE raw_usage_events SET total_tokens = total_tokens + 7, output_tokens = output_tokens + 7 "
            "WHERE event_id = (SELECT min(event_id) FROM raw_usage_events WHERE app_name = 'Helpdesk Flow')",
            "Helpdesk Flow",
        ),
    ],
)
def test_an_unexplained_difference_warns_and_names_the_app(tmp_path, fault, app):
    store, refresh = run(tmp_path, "auto")
    with store.connect() as conn:
        conn.execute(fault)
        outcome = check_dify_numbers(conn, NOV10, NOV11, refresh.dify_totals, refresh.skipped_app_ids)
    assert not outcome.passed and outcome.severity == "WARN"
    assert outcome.facts["apps_unexplained"] == 1 and outcome.summary.startswith(f"{app} differ")
    assert explanation_of(outcome.tables["per_app"], app).startswith("unexplained")
