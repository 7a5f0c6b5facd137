from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.usage import checks
from dify_meter.usage.aggregate_modes import AGGREGATE_TABLES
from dify_meter.usage.aggregates import rebuild_aggregate
from dify_meter.usage.normalize import NormalizationConfigError, Normalizer
from dify_meter.usage.raw_events import replace_window
from dify_meter_tests.support.events import make_event

DAY = date(2026, 11, 10)
MODES = list(AGGREGATE_TABLES)


@pytest.fixture(scope="module")
def normalizer():
    return Normalizer.load()


@pytest.fixture
def conn(tmp_path, normalizer):
    store = DuckDBStore(tmp_path / "m.duckdb")
    with store.connect() as connection:
        replace_window(
            connection,
            DAY,
            DAY,
            [
                make_event(
                    "a",
                    DAY,
                    provider_raw="langgenius/bedrock/bedrock",
                    model_raw="us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                ),
                make_event(
                    "b", DAY, provider_raw="langgenius/vertex_ai/vertex_ai", model_raw="claude-3-haiku@20240307"
                ),
                make_event(
                    "c",
                    DAY,
                    provider_raw="langgenius/ollama/ollama",
                    model_raw="llama3.1:8b",
                    cost=Decimal(0),
                    priced=False,
                ),
            ],
        )
        for mode in MODES:
            rebuild_aggregate(connection, mode, DAY, DAY, normalizer)
        yield connection


@pytest.mark.parametrize("mode", MODES)
def test_good_data_passes_the_blocking_checks(conn, mode):
    for outcome in (
        checks.check_conservation(conn, mode, DAY, DAY),
        checks.check_key_uniqueness(conn, mode, DAY, DAY),
        checks.check_token_arithmetic(conn, mode, DAY, DAY),
    ):
        assert outcome.passed, outcome.summary


def test_good_data_passes_normalization_and_currency(conn, normalizer):
    outcome = checks.check_normalization(conn, DAY, DAY, normalizer)
    assert outcome.passed and outcome.facts["keys_checked"] == 3
    assert checks.check_currency(conn, DAY, DAY).passed


@pytest.mark.parametrize("mode", MODES)
def test_conservation_fails_when_an_aggregate_loses_tokens(conn, mode):
    table = AGGREGATE_TABLES[mode]
    conn.execute(
        f"UPDATE {table} SET input_tokens = input_tokens - 1, total_tokens = total_tokens - 1 "
        "WHERE rowid = (SELECT min(rowid) FROM " + table + ")"
    )
    outcome = checks.check_conservation(conn, mode, DAY, DAY)
    assert not outcome.passed and outcome.severity == "ERROR"
    assert outcome.facts["days_differing"] == 1 and "differences" in outcome.tables


def test_conservation_fails_on_a_cost_difference_of_one_ten_billionth(conn):
    conn.execute("UPDATE usage_workspace SET cost = cost + 0.0000000001")
    assert not checks.check_conservation(conn, "workspace", DAY, DAY).passed


def test_duplicated_key_fails(conn):
    conn.execute("INSERT INTO usage_per_model SELECT * FROM usage_per_model LIMIT 1")
    outcome = checks.check_key_uniqueness(conn, "per_model", DAY, DAY)
    assert not outcome.passed and outcome.facts["duplicated_keys"] == 1


def test_token_arithmetic_fails(conn):
    conn.execute("UPDATE raw_usage_events SET total_tokens = total_tokens + 5 WHERE event_id = 'a'")
    outcome = checks.check_token_arithmetic(conn, "per_app", DAY, DAY)
    assert not outcome.passed and outcome.facts["raw_rows_wrong"] == 1


def test_malformed_model_fails_normalization(conn, normalizer):
    conn.execute(
        "UPDATE usage_per_model SET model = 'us.anthropic.claude-3-7-sonnet-20250219-v1:0' WHERE provider = 'aws'"
    )
    outcome = checks.check_normalization(conn, DAY, DAY, normalizer)
    assert not outcome.passed and outcome.severity == "ERROR" and outcome.facts["malformed_models"] == 1


def test_unknown_provider_warns_with_its_share(conn, normalizer):
    replace_window(
        conn,
        DAY,
        DAY,
        [
            make_event(
                "a",
                DAY,
                provider_raw="acme/secret-llm/secret",
                model_raw="s-1",
                input_tokens=300,
                output_tokens=0,
                total_tokens=300,
            ),
            make_event("b", DAY, input_tokens=100, output_tokens=0, total_tokens=100),
        ],
    )
    rebuild_aggregate(conn, "per_model", DAY, DAY, normalizer)
    outcome = checks.check_normalization(conn, DAY, DAY, normalizer)
    assert not outcome.passed and outcome.severity == "WARN"
    assert outcome.facts["unknown_tokens"] == 300 and outcome.facts["unknown_token_share_percent"] == "75.00"
    assert "acme/secret-llm/secret" in outcome.tables["raw_ids_normalized_to_unknown"]


def test_mixed_currency_key_fails_the_currency_check(conn, normalizer):
    replace_window(
        conn,
        DAY,
        DAY,
        [
            make_event("a", DAY, currency="USD"),
            make_event("b", DAY, currency="EUR"),
        ],
    )
    rebuild_aggregate(conn, "per_model", DAY, DAY, normalizer)
    outcome = checks.check_currency(conn, DAY, DAY)
    assert not outcome.passed and outcome.facts["keys_held_back"] == 1 and "EUR/USD" in outcome.tables["held_back"]


def test_unpriced_usage_warns_by_model(conn):
    outcome = checks.check_unpriced(conn, DAY, DAY)
    assert not outcome.passed and outcome.severity == "WARN" and outcome.facts["unpriced_events"] == 1
    assert "llama3.1:8b" in outcome.tables["unpriced"] and "free_models" in outcome.summary


def test_a_model_declared_free_stops_the_unpriced_warning(conn, tmp_path):
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('free_models = ["ollama/llama3.1:8b"]\n')
    outcome = checks.check_unpriced(conn, DAY, DAY, Normalizer.load(mapping))
    assert outcome.passed and outcome.facts["free_models_seen"] == 1 and "ollama/llama3.1:8b" in outcome.summary
    mapping.write_text('free_models = ["Llama 3"]\n')
    with pytest.raises(NormalizationConfigError, match='free_models: "Llama 3" is not a normalized'):
        Normalizer.load(mapping)


def test_dify_numbers_explain_each_kind_of_difference(conn):
    from dify_meter.core.source import DifyAppTotals

    replace_window(
        conn,
        DAY,
        DAY,
        [
            # The debugger's message is a console account's; its 120 tokens bound the excess of 20.
            make_event(
                "a", DAY, app_id="completion-app", app_mode="completion", cost=Decimal("0.5"), user_type="account"
            ),
            make_event("b", DAY, app_id="chat-app", cost=Decimal(0), priced=False),
            make_event("c", DAY, app_id="flow-app", app_mode="advanced-chat", cost=Decimal("0.25")),
        ],
    )
    totals = [
        DifyAppTotals("completion-app", "Writer", "completion", 100, Decimal("0.4")),  # we see a debugger message more
        DifyAppTotals("chat-app", "Bot", "chat", 120, Decimal("0.3")),  # Dify priced a message without metadata
        DifyAppTotals("flow-app", "Flow", "advanced-chat", 120, Decimal("0.25")),
        DifyAppTotals("gone-app", "Skipped", "completion", 50, Decimal("0.1")),
    ]
    outcome = checks.check_dify_numbers(conn, DAY, DAY, totals, skipped_app_ids={"gone-app"})
    table = outcome.tables["per_app"]
    assert "| Writer | completion | 120 | 100 | 20 | 0.5 | 0.4 | more here: debugger conversations" in table
    assert "| Bot | chat | 120 | 120 | 0 | 0 | 0.3 | cost lower here: messages without usage metadata" in table
    assert "| Flow | advanced-chat | 120 | 120 | 0 | 0.25 | 0.25 | match |" in table
    assert "| Skipped | completion | 0 | 50 | -50 | 0 | 0.1 | skipped:" in table
    assert "(slack 100)" in table
    assert outcome.passed and outcome.facts["apps_differing"] == outcome.facts["apps_explained"] == 3
    assert outcome.facts["apps_unexplained"] == 0
