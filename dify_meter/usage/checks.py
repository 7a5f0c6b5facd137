"""Data checks of a window of days: plain functions over DuckDB, wrapped as Dagster asset checks.

Each returns a CheckOutcome whose facts say what was compared and the numbers, so a person reading
the Dagster UI understands the result without opening code.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal, NamedTuple

import duckdb

from dify_meter.core.app_modes import MESSAGE_MODES, WORKFLOW
from dify_meter.core.markdown import markdown_table
from dify_meter.core.readable import decimal_text, sentence
from dify_meter.core.skipped_app import SkippedApp
from dify_meter.core.source import DifyAppTotals
from dify_meter.usage.aggregate_modes import AGGREGATE_TABLES, KEY_COLUMNS, AggregateMode
from dify_meter.usage.aggregates import prepare_window_events
from dify_meter.usage.normalize import MODEL_PATTERN, Normalizer
from dify_meter.usage.sql import read_sql

Severity = Literal["ERROR", "WARN"]
NO_PROVIDER = {"", "unknown"}  # what raw events carry when Dify recorded no provider

# Wrapping a normalized model must never keep: Bedrock regional/publisher prefixes and version
# suffixes, Vertex "@version".
LEFTOVER_WRAPPING = re.compile(r"^(us|eu|apac|global)\.|^(anthropic|amazon|meta|mistral|cohere|ai21)\.|-v\d+:\d+$|@")


@dataclass
class CheckOutcome:
    passed: bool
    severity: Severity
    summary: str
    facts: dict[str, int | str] = field(default_factory=dict)  # numbers are plotted, text is shown
    tables: dict[str, str] = field(default_factory=dict)  # markdown


def _window(first_day: date, last_day: date) -> dict[str, date]:
    return {"first_day": first_day, "last_day": last_day}


def check_normalization(
    conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, normalizer: Normalizer
) -> CheckOutcome:
    """Every per_model provider is known (or `unknown`), every model well formed and unwrapped."""
    rows = conn.execute(
        "SELECT provider, model, sum(total_tokens), sum(cost) FROM usage_per_model "
        "WHERE usage_date BETWEEN $first_day AND $last_day GROUP BY 1, 2 ORDER BY 1, 2",
        _window(first_day, last_day),
    ).fetchall()
    bad_provider = [r for r in rows if r[0] != "unknown" and not normalizer.is_known_provider(r[0])]
    bad_model = [r for r in rows if not MODEL_PATTERN.fullmatch(r[1]) or LEFTOVER_WRAPPING.search(r[1])]
    prepare_window_events(conn, first_day, last_day, normalizer)
    unknown = conn.execute(
        "SELECT provider_raw, model_raw, sum(total_tokens), sum(cost) FROM window_events "
        "WHERE provider = 'unknown' GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
    ).fetchall()
    total_tokens = sum(int(r[2]) for r in rows)
    unknown_tokens = sum(int(r[2]) for r in unknown)
    facts: dict[str, int | str] = {
        "keys_checked": len(rows),
        "unknown_provider_keys": sum(1 for r in rows if r[0] == "unknown"),
        "unknown_tokens": unknown_tokens,
        "unknown_token_share_percent": f"{(100 * unknown_tokens / total_tokens):.2f}" if total_tokens else "0.00",
        "malformed_providers": len(bad_provider),
        "malformed_models": len(bad_model),
    }
    tables = {}
    if unknown:
        tables["raw_ids_normalized_to_unknown"] = markdown_table(
            ("provider_raw", "model_raw", "tokens", "token share %", "cost"),
            [(p, m, t, f"{100 * t / total_tokens:.2f}", c) for p, m, t, c in unknown],
        )
    if bad_provider or bad_model:
        tables["malformed"] = markdown_table(("provider", "model", "tokens", "cost"), bad_provider + bad_model)
        return CheckOutcome(False, "ERROR", "malformed provider or model names reached usage_per_model", facts, tables)
    # Usage for which Dify itself names no provider cannot be mapped: it is shown, not warned about.
    mappable = [r for r in unknown if (r[0] or "").strip().lower() not in NO_PROVIDER]
    facts["unmapped_raw_ids"] = len(mappable)
    if mappable:
        return CheckOutcome(
            False,
            "WARN",
            f"{len(mappable)} raw provider/model ids normalize to provider "
            "'unknown': extend the mapping (DIFY_METER_NORMALIZATION_FILE)",
            facts,
            tables,
        )
    if unknown:
        return CheckOutcome(
            True,
            "ERROR",
            "every provider Dify names is known and every model is well formed "
            "(Dify names no provider for some usage: it is delivered as provider 'unknown')",
            facts,
            tables,
        )
    return CheckOutcome(True, "ERROR", "every provider is known and every model is well formed", facts, tables)


def check_conservation(
    conn: duckdb.DuckDBPyConnection, mode: AggregateMode, first_day: date, last_day: date
) -> CheckOutcome:
    """The aggregate's daily sums equal the raw events' daily sums, exactly."""
    table = AGGREGATE_TABLES[mode]
    differences = conn.execute(
        read_sql("check_conservation.sql").format(table=table), _window(first_day, last_day)
    ).fetchall()
    totals = conn.execute(
        "SELECT count(*), coalesce(sum(total_tokens), 0), coalesce(sum(cost), 0) FROM raw_usage_events "
        "WHERE usage_date BETWEEN ? AND ?",
        [first_day, last_day],
    ).fetchone()
    assert totals is not None
    facts: dict[str, int | str] = {
        "compared": f"{table} vs raw_usage_events, {first_day}..{last_day}: input, output and total tokens, "
        "requests, cost, unpriced and approximate events per day",
        "raw_events": int(totals[0]),
        "raw_total_tokens": int(totals[1]),
        "raw_cost_all_currencies": decimal_text(totals[2]),
        "days_differing": len(differences),
    }
    if differences:
        headers = (
            "day",
            "raw in",
            f"{mode} in",
            "raw out",
            f"{mode} out",
            "raw total",
            f"{mode} total",
            "raw requests",
            f"{mode} requests",
            "raw cost",
            f"{mode} cost",
            "raw unpriced",
            f"{mode} unpriced",
            "raw approx",
            f"{mode} approx",
        )
        return CheckOutcome(
            False,
            "ERROR",
            f"{table} does not add up to the raw events on {len(differences)} day(s)",
            facts,
            {"differences": markdown_table(headers, differences)},
        )
    return CheckOutcome(True, "ERROR", f"{table} sums equal the raw events exactly", facts)


def check_key_uniqueness(
    conn: duckdb.DuckDBPyConnection, mode: AggregateMode, first_day: date, last_day: date
) -> CheckOutcome:
    table, keys = AGGREGATE_TABLES[mode], KEY_COLUMNS[mode]
    duplicates = conn.execute(
        f"SELECT {', '.join(keys)}, count(*) FROM {table} WHERE usage_date BETWEEN ? AND ? "
        f"GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL",
        [first_day, last_day],
    ).fetchall()
    rows = conn.execute(
        f"SELECT count(*) FROM {table} WHERE usage_date BETWEEN ? AND ?", [first_day, last_day]
    ).fetchone()
    facts: dict[str, int | str] = {
        "key": ", ".join(keys),
        "rows": rows[0] if rows else 0,
        "duplicated_keys": len(duplicates),
    }
    if duplicates:
        return CheckOutcome(
            False,
            "ERROR",
            f"{len(duplicates)} keys of {table} have more than one row",
            facts,
            {"duplicates": markdown_table((*keys, "rows"), duplicates)},
        )
    return CheckOutcome(True, "ERROR", f"one row per ({', '.join(keys)})", facts)


def check_currency(conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> CheckOutcome:
    """A per_model key whose priced events have two currencies cannot be sent: it is held back."""
    conflicts = conn.execute(
        "SELECT usage_date, provider, model, currency, request_count, cost FROM usage_per_model "
        "WHERE currency_conflict AND usage_date BETWEEN ? AND ? ORDER BY ALL",
        [first_day, last_day],
    ).fetchall()
    facts: dict[str, int | str] = {"keys_held_back": len(conflicts)}
    if conflicts:
        return CheckOutcome(
            False,
            "ERROR",
            f"{len(conflicts)} per-model keys mix currencies in their priced events; they are held back from "
            "API_Meter (the rest of the day is delivered). Check the model's pricing in Dify.",
            facts,
            {"held_back": markdown_table(("day", "provider", "model", "currencies", "requests", "cost"), conflicts)},
        )
    return CheckOutcome(True, "ERROR", "every per-model key has a single currency", facts)


def check_token_arithmetic(
    conn: duckdb.DuckDBPyConnection, mode: AggregateMode, first_day: date, last_day: date
) -> CheckOutcome:
    table = AGGREGATE_TABLES[mode]
    counts = {}
    for name in ("raw_usage_events", table):
        row = conn.execute(
            f"SELECT count(*) FROM {name} WHERE usage_date BETWEEN ? AND ? "
            "AND total_tokens <> input_tokens + output_tokens",
            [first_day, last_day],
        ).fetchone()
        counts[name] = row[0] if row else 0
    facts: dict[str, int | str] = {"raw_rows_wrong": counts["raw_usage_events"], f"{table}_rows_wrong": counts[table]}
    if any(counts.values()):
        return CheckOutcome(False, "ERROR", "rows where total_tokens != input_tokens + output_tokens", facts)
    return CheckOutcome(True, "ERROR", "total = input + output on every raw and aggregate row", facts)


def check_unpriced(
    conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, normalizer: Normalizer | None = None
) -> CheckOutcome:
    """Models with cost-0 usage warn, unless the normalization file declares them free (free_models)."""
    found = conn.execute(
        "SELECT provider, model, sum(unpriced_events), sum(total_tokens) FROM usage_per_model "
        "WHERE unpriced_events > 0 AND usage_date BETWEEN ? AND ? GROUP BY 1, 2 ORDER BY 4 DESC",
        [first_day, last_day],
    ).fetchall()
    free = [r for r in found if normalizer and normalizer.is_free(r[0], r[1])]
    rows = [r for r in found if r not in free]
    facts: dict[str, int | str] = {
        "unpriced_models": len(rows),
        "unpriced_events": sum(int(r[2]) for r in rows),
        "free_models_seen": len(free),
    }
    if rows:
        return CheckOutcome(
            False,
            "WARN",
            f"{len(rows)} models have usage with cost 0 (no pricing configured in Dify): "
            "their tokens are exact, their cost is not known. Configure the model's pricing in Dify, or, if it "
            "really costs nothing (self-hosted), list it under free_models in DIFY_METER_NORMALIZATION_FILE",
            facts,
            {"unpriced": markdown_table(("provider", "model", "unpriced events", "tokens of the key"), rows)},
        )
    return CheckOutcome(
        True,
        "WARN",
        "every event carries a price"
        + (f" or is of a model declared free ({sentence(f'{p}/{m}' for p, m, *_ in free)})" if free else ""),
        facts,
    )


class AppFigures(NamedTuple):
    """One app's raw events over a window, as the checks against Dify's own statistics compare them."""

    tokens: int = 0
    cost: Decimal = Decimal(0)
    unpriced_events: int = 0
    approximate_events: int = 0
    approximate_tokens: int = 0
    account_tokens: int = 0  # of console accounts' conversations: the bound on debugger traffic the console can give
    events: int = 0
    database_events: int = 0  # read from Dify's database, whose invoke_from tells debugger traffic apart exactly
    debugger_tokens: int = 0
    debugger_cost: Decimal = Decimal(0)
    triggered_events: int = 0  # read from Dify's database with the run's triggered_from
    app_run_tokens: int = 0  # of runs started from the app: all that Dify's workflow statistics count

    @property
    def debugger_known(self) -> bool:
        return self.events > 0 and self.database_events == self.events

    @property
    def triggers_known(self) -> bool:
        return self.events > 0 and self.triggered_events == self.events


def _raw_per_app(conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> dict[str, AppFigures]:
    rows = conn.execute(read_sql("check_raw_per_app.sql"), [first_day, last_day]).fetchall()
    return {
        row[0]: AppFigures(
            int(row[1]),
            row[2],
            int(row[3]),
            int(row[4]),
            int(row[5] or 0),
            int(row[6] or 0),
            int(row[7]),
            int(row[8]),
            int(row[9] or 0),
            row[10] or Decimal(0),
            int(row[11]),
            int(row[12] or 0),
        )
        for row in rows
    }


@dataclass(frozen=True)
class Explanation:
    kind: Literal["match", "explained", "unexplained"]
    text: str


def _explain(mode: str, ours: AppFigures, dify: DifyAppTotals, skipped: bool) -> Explanation:
    if skipped:
        return Explanation(
            "explained",
            "skipped: completion apps are not read with DIFY_DETAIL_READS=never"
            if mode == "completion"
            else "not read: a mode this exporter does not know (check apps_not_read)",
        )
    if mode == WORKFLOW:
        return _explain_workflow(ours, dify)
    ours_tokens, ours_cost, account_tokens = ours.tokens, ours.cost, ours.account_tokens
    if ours_tokens == dify.tokens and ours_cost == dify.price:
        return Explanation("match", "match")
    excess = ours_tokens - dify.tokens
    if mode in MESSAGE_MODES and ours.debugger_known:
        return _explain_debugger_exactly(ours, dify)
    if excess > 0 and mode in MESSAGE_MODES:
        # The console lists debugger conversations of these modes like any other; Dify's statistics skip them.
        # The console cannot tell debugger from explore conversations, both are a console account's: the bound
        # is that account usage.
        if excess <= account_tokens:
            return Explanation(
                "explained",
                f"more here: debugger conversations are counted here and excluded by "
                f"Dify; {excess:,} more tokens, within the {account_tokens:,} tokens of console-account "
                f"conversations (slack {account_tokens - excess:,})",
            )
        return Explanation(
            "unexplained",
            f"unexplained: {excess:,} more tokens here, more than the "
            f"{account_tokens:,} tokens of console-account conversations; compare the app's logs "
            "in Dify",
        )
    if ours_tokens == dify.tokens and ours_cost < dify.price:
        return Explanation(
            "explained",
            "cost lower here: messages without usage metadata are unpriced here; Dify prices them from its database",
        )
    return Explanation("unexplained", "unexplained: compare the app's logs in Dify")


def _explain_workflow(ours: AppFigures, dify: DifyAppTotals) -> Explanation:
    """Dify's workflow statistics: tokens of app-run runs, no cost (only the database path asks for them)."""
    if ours.tokens == dify.tokens:
        return Explanation("match", "match")
    if ours.triggers_known and ours.app_run_tokens == dify.tokens:
        return Explanation(
            "explained",
            "more here: runs not started from the app (webhook, schedule, ...) are counted here and not in Dify's "
            f"workflow statistics; exactly the {ours.tokens - ours.app_run_tokens:,} tokens of the events whose "
            "triggered_from in Dify's database is not 'app-run'",
        )
    return Explanation(
        "unexplained", f"unexplained: {ours.tokens - dify.tokens:,} tokens more here; compare the app's logs in Dify"
    )


def _explain_debugger_exactly(ours: AppFigures, dify: DifyAppTotals) -> Explanation:
    """Every event was read from Dify's database: its invoke_from names debugger traffic, so no estimate."""
    without_debugger = (ours.tokens - ours.debugger_tokens, ours.cost - ours.debugger_cost)
    if ours.debugger_tokens and without_debugger == (dify.tokens, dify.price):
        return Explanation(
            "explained",
            f"more here: debugger traffic is counted here and excluded by Dify; exactly the "
            f"{ours.debugger_tokens:,} tokens and {decimal_text(ours.debugger_cost)} cost of the events whose "
            "invoke_from in Dify's database is 'debugger'",
        )
    return Explanation(
        "unexplained",
        f"unexplained: {ours.tokens - dify.tokens:,} tokens and {decimal_text(ours.cost - dify.price)} cost more here, "
        f"of which debugger traffic (invoke_from 'debugger' in Dify's database) is exactly {ours.debugger_tokens:,} "
        f"tokens and {decimal_text(ours.debugger_cost)}; compare the app's logs in Dify",
    )


def check_dify_numbers(
    conn: duckdb.DuckDBPyConnection,
    first_day: date,
    last_day: date,
    totals: Sequence[DifyAppTotals],
    skipped_app_ids: Collection[str],
) -> CheckOutcome:
    """Per app, the window's tokens and cost against Dify's own statistics/token-costs.

    Passes when every difference has a known explanation (listed in the metadata); advanced-chat and workflow
    apps must match exactly. Warns only on an unexplained difference: that one a person should look at.
    Debugger traffic is estimated from console-account usage, or, when every event of the app was read from
    Dify's database (which gives its invoke_from), must account for the difference exactly.
    """
    ours = _raw_per_app(conn, first_day, last_day)
    rows, unexplained, explained = [], [], []
    for dify in sorted(totals, key=lambda t: t.app_name):
        figures = ours.get(dify.app_id, AppFigures())
        tokens, cost = figures.tokens, figures.cost
        explanation = _explain(dify.app_mode, figures, dify, dify.app_id in skipped_app_ids)
        if explanation.kind == "explained":
            explained.append(dify.app_name)
        elif explanation.kind == "unexplained":
            unexplained.append(dify.app_name)
        rows.append(
            (
                dify.app_name,
                dify.app_mode,
                tokens,
                dify.tokens,
                tokens - dify.tokens,
                cost,
                dify.price,
                explanation.text,
            )
        )
    facts: dict[str, int | str] = {
        "compared": "per messages-based app over the window: tokens and cost here vs Dify's statistics/token-costs "
        "(Dify labels every currency USD; costs are compared as sums); per workflow app, when Dify's figures come "
        "from its database: tokens vs its workflow statistics (app-run runs, no cost)",
        "apps_compared": len(rows),
        "apps_differing": len(explained) + len(unexplained),
        "apps_explained": len(explained),
        "apps_unexplained": len(unexplained),
    }
    tables = (
        {
            "per_app": markdown_table(
                ("app", "mode", "tokens here", "tokens in Dify", "difference", "cost here", "cost in Dify", "why"),
                rows,
                limit=50,
            )
        }
        if rows
        else {}
    )
    if unexplained:
        return CheckOutcome(
            False,
            "WARN",
            f"{sentence(unexplained)} differ from Dify's own statistics without a "
            "known explanation: compare their logs in Dify (table per_app)",
            facts,
            tables,
        )
    if explained:
        return CheckOutcome(
            True,
            "WARN",
            f"every difference from Dify's own statistics is explained "
            f"({sentence(explained)}: see why in table per_app)",
            facts,
            tables,
        )
    return CheckOutcome(True, "WARN", "every messages-based app matches Dify's own statistics", facts, tables)


def check_approximate_usage(
    conn: duckdb.DuckDBPyConnection,
    first_day: date,
    last_day: date,
    totals: Sequence[DifyAppTotals],
    skipped_app_ids: Collection[str],
) -> CheckOutcome:
    """With DIFY_DETAIL_READS=never: usage on an app's current model (approximate) and skipped apps."""
    ours = _raw_per_app(conn, first_day, last_day)
    names = {t.app_id: (t.app_name, t.app_mode) for t in totals}
    approximate = [
        (names.get(app_id, (app_id, "?"))[0], figures.approximate_events, figures.approximate_tokens)
        for app_id, figures in sorted(ours.items())
        if figures.approximate_events
    ]
    skipped = [(t.app_name, t.app_mode, t.tokens, t.price) for t in totals if t.app_id in skipped_app_ids]
    facts: dict[str, int | str] = {
        "approximate_events": sum(r[1] for r in approximate),
        "approximate_tokens": sum(r[2] for r in approximate),
        "skipped_apps": len(skipped),
        "skipped_tokens_per_dify": sum(r[2] for r in skipped),
    }
    tables = {}
    if approximate:
        tables["approximate"] = markdown_table(("app", "events on the app's current model", "tokens"), approximate)
    if skipped:
        tables["skipped"] = markdown_table(("app", "mode", "tokens per Dify", "cost per Dify"), skipped)
    if approximate or skipped:
        return CheckOutcome(
            False,
            "WARN",
            "some usage is approximate (model = the app's current one) or skipped because DIFY_DETAIL_READS=never",
            facts,
            tables,
        )
    return CheckOutcome(True, "WARN", "no approximate or skipped usage", facts, tables)


def check_apps_not_read(skipped_apps: Sequence[SkippedApp], totals: Sequence[DifyAppTotals]) -> CheckOutcome:
    """Apps whose usage was not read because this exporter does not know their mode, with Dify's own figures."""
    by_app = {t.app_id: t for t in totals}
    unread = [app for app in skipped_apps if app.unread_usage]
    rows = [
        (
            app.app_name,
            app.app_id,
            app.mode,
            by_app[app.app_id].tokens if app.app_id in by_app else "no statistics",
            by_app[app.app_id].price if app.app_id in by_app else "no statistics",
        )
        for app in unread
    ]
    facts: dict[str, int | str] = {
        "apps_not_read": len(unread),
        "tokens_not_read_per_dify": sum(by_app[app.app_id].tokens for app in unread if app.app_id in by_app),
    }
    if unread:
        names = ", ".join(f"{app.app_name} ({app.mode})" for app in unread)
        return CheckOutcome(
            False,
            "WARN",
            f"{len(unread)} apps of modes this exporter does not know were not read: "
            f"{names}; the rest of the window is delivered",
            facts,
            {"not_read": markdown_table(("app", "id", "mode", "tokens per Dify", "cost per Dify"), rows)},
        )
    return CheckOutcome(True, "WARN", "every app of a mode with LLM usage was read", facts)
