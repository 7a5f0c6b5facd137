"""Dify's own totals by Dify's own SQL (sources/database/statistics.py) equal what its console statistics give:
the recorded (workflow/)token-costs answers on each version's seed, and the simulator's over a generated workspace."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dify_meter.core.source import DifyAppTotals
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.pg_rows import write_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.listing import apps as list_apps
from dify_meter.sources.console.statistics import fetch_dify_totals
from dify_meter.sources.database.errors import DatabaseSourceError
from dify_meter.sources.database.sessions import DatabaseTarget
from dify_meter.sources.database.statistics import dify_bound, read_dify_totals
from dify_meter_tests.sources.database.agent_recording import AGENT_APP, add_agent_app
from dify_meter_tests.sources.database.statement_log import logged_statements
from dify_meter_tests.support.console import NO_WAIT
from dify_meter_tests.support.postgres import FIXTURES, TENANT_ID, EmbeddedPostgres

pytestmark = pytest.mark.integration
MINUTE = "%Y-%m-%d %H:%M"  # the console's start/end, in the account's timezone

VERSIONS = ["1.12.1", "1.14.1", "1.16.1"]
FALL_BACK = date(2026, 10, 30)  # New York leaves DST on Sunday 2026-11-01
GENERATED = [  # seed, Dify version of the schema, the account's (and the window's) timezone
    (5, "1.12.1", "UTC"),
    (17, "1.16.1", "America/New_York"),
    (29, "1.14.1", "Asia/Tokyo"),
]


def recorded_token_costs(
    version: str, pattern: str = "07-*token-costs-*.json"
) -> list[tuple[str, str, datetime, datetime, int, Decimal]]:
    """(file, app id, start, end, tokens, price) of each recorded (workflow/)statistics/token-costs answer, days
    summed; workflow answers carry no price (and their token counts as strings)."""
    found = []
    for path in sorted((FIXTURES / f"dify-{version}").glob(pattern)):
        recorded = json.loads(path.read_text())
        zone = ZoneInfo("UTC" if path.stem.endswith("-utc") else "America/New_York")  # the owner's, when recorded
        start, end = (
            datetime.strptime(recorded["request"]["query"][bound], "%Y-%m-%d %H:%M").replace(tzinfo=zone)
            for bound in ("start", "end")
        )
        days = recorded["response"]["body"]["data"]
        found.append(
            (
                path.name,
                recorded["request"]["path"].split("/")[4],
                start,
                end,
                sum(int(day["token_count"]) for day in days),
                sum((Decimal(day.get("total_price", 0)) for day in days), Decimal(0)),
            )
        )
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_the_recorded_token_costs_are_what_difys_sql_gives_on_the_seed(
    postgres: EmbeddedPostgres, version: str
) -> None:
    target = DatabaseTarget(postgres.database(version))
    recordings = recorded_token_costs(version)
    assert len(recordings) == 10
    for name, app_id, start, end, tokens, price in recordings:
        totals = read_dify_totals(target, TENANT_ID, start, end, timezone=str(start.tzinfo))
        (app,) = [t for t in totals if t.app_id == app_id]
        assert (app.tokens, app.price) == (tokens, price), name
        assert (app.app_mode == "workflow") == name.startswith("07-workflow-"), name


def test_the_recorded_agent_token_costs_are_what_difys_sql_gives(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.16.1")
    add_agent_app(url)
    ((name, app_id, start, end, tokens, price),) = recorded_token_costs("1.16.1", "10-agent-token-costs-*.json")
    totals = read_dify_totals(DatabaseTarget(url), TENANT_ID, start, end, timezone="America/New_York")
    (agent,) = [t for t in totals if t.app_id == app_id]
    assert (agent.app_mode, agent.tokens, agent.price) == ("agent", tokens, price), name
    assert app_id == AGENT_APP and tokens == 12060 + 3200  # the owner's debugger turn is left out, as by Dify


@pytest.mark.parametrize(("seed", "version", "timezone"), GENERATED)
def test_difys_sql_equals_the_console_statistics_on_a_generated_workspace(
    postgres: EmbeddedPostgres, seed: int, version: str, timezone: str
) -> None:
    workspace = generate_workspace(seed, FALL_BACK, 4, account_timezone=timezone)
    url = postgres.database(version, seeded=False)
    with psycopg.connect(url) as connection:
        write_workspace(connection, workspace)
    zone = ZoneInfo(timezone)

    def midnight(days_after: int) -> datetime:
        return datetime.combine(FALL_BACK + timedelta(days=days_after), datetime.min.time(), zone)

    # the whole generated span, and one day inside it (midnight-crossing traffic on both sides)
    windows = [(midnight(-1), midnight(4)), (midnight(1), midnight(2))]
    with DifySimulator(workspace, api_key="k") as dify:
        dify.set_now(datetime(2026, 12, 1, tzinfo=UTC))
        with DifyClient(
            dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT
        ) as client:
            console = [fetch_dify_totals(client, *w) + workflow_totals(client, *w, zone) for w in windows]
    database = [read_dify_totals(DatabaseTarget(url), workspace.tenant.id, *w, timezone=timezone) for w in windows]
    for theirs, ours in zip(console, database, strict=True):
        assert sorted(ours, key=lambda t: t.app_id) == sorted(theirs, key=lambda t: t.app_id)
    assert {t.app_mode for t in database[0]} >= {"chat", "agent-chat", "completion", "advanced-chat", "workflow"}
    assert any(t.tokens for t in database[0] if t.app_mode == "workflow")
    assert sum(t.tokens for t in database[1]) < sum(t.tokens for t in database[0])
    assert any(t.price for t in database[0])
    assert any(m.invoke_from == "debugger" for m in workspace.messages.values())  # what both leave out


def workflow_totals(client: DifyClient, start: datetime, end: datetime, zone: ZoneInfo) -> list[DifyAppTotals]:
    """The console's workflow/statistics/token-costs of every workflow app, days summed (Dify keeps no price)."""
    bounds = {"start": start.astimezone(zone).strftime(MINUTE), "end": end.astimezone(zone).strftime(MINUTE)}
    return [
        DifyAppTotals(
            app.id,
            app.name,
            app.mode,
            sum(day.token_count for day in client.workflow_token_costs(app, **bounds).data),
            Decimal(0),
        )
        for app in list_apps(client)
        if app.mode == "workflow"
    ]


def test_one_query_per_statistic_for_all_apps_in_one_read_only_transaction(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.12.1")
    window = (datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 13, tzinfo=UTC))
    with logged_statements(postgres, url) as logged:
        totals = read_dify_totals(DatabaseTarget(url), TENANT_ID, *window, timezone="UTC")
    text = "\n".join(logged)
    assert len(totals) == 6
    assert text.count("-- Dify's own statistics/token-costs") == 1
    assert text.count("-- Dify's own workflow/statistics/token-costs") == 1
    assert text.count("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY") == 1 and "COMMIT" not in text


def test_a_workspace_that_is_no_tenant_is_a_clear_failure(postgres: EmbeddedPostgres) -> None:
    target = DatabaseTarget(postgres.database("1.12.1"))
    window = (datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
    with pytest.raises(DatabaseSourceError, match="is not a tenant of this Dify database"):
        read_dify_totals(target, "0f0e0d0c-0b0a-4909-8807-060504030201", *window, timezone="UTC")
    with pytest.raises(DatabaseSourceError, match="is not a UUID"):
        read_dify_totals(target, "my-workspace", *window, timezone="UTC")


def test_bounds_are_the_minutes_the_console_sends_resolved_as_dify_does() -> None:
    new_york = ZoneInfo("America/New_York")
    assert dify_bound(datetime(2026, 11, 10, 5, 0, 59, tzinfo=UTC), new_york) == datetime(2026, 11, 10, 5, 0)
    # 01:30 happens twice on 2026-11-01: Dify takes standard time (EST, UTC-5)
    assert dify_bound(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), new_york) == datetime(2026, 11, 1, 6, 30)
    tokyo_midnight = datetime(2026, 11, 10, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert dify_bound(tokyo_midnight, ZoneInfo("UTC")) == datetime(2026, 11, 9, 15)
