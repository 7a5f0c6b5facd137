"""Bad configuration and bad answers, as a user meets them through `dify-meter export`: each gives a message that
names the variable, the request or what to do, and the rows the day already had stay as they were.

Every case starts from a DuckDB file that already holds a good export of DAY. Dify's retries are kept without
their waits (the client's RetryPolicy with a no-op sleep); everything else is the real command."""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from dify_meter.cli.main import main
from dify_meter.core.store import DuckDBStore
from dify_meter.defs import resources
from dify_meter.defs.resources import console_source
from dify_meter.sandbox.api_meter.server import ApiMeterServer
from dify_meter.sandbox.dify.changes import add_workflow_runs
from dify_meter.sandbox.dify.exchange import Reply
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.loopback import Request
from dify_meter.usage.aggregate_modes import AGGREGATE_TABLES
from dify_meter_tests.support.aggregates import actual
from dify_meter_tests.support.console import NO_WAIT
from dify_meter_tests.support.events import stored_events
from dify_meter_tests.support.resilience import (
    MeterSetup,
    api_meter_holds,
    api_meter_truth,
    assert_duckdb_holds,
    export_args,
    open_spool_days,
    truth,
)

pytestmark = [pytest.mark.resilience, pytest.mark.e2e]
DAY = date(2026, 6, 3)
TEN_MB = 10 * 1024 * 1024


def new_workspace():
    return generate_workspace(seed=21, start_date=DAY - timedelta(days=1), days=3)  # the same rows every time


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def day_tables(store: DuckDBStore) -> dict[str, object]:
    """What the file says about its days: every raw event, and each aggregate's keys and sums."""
    with store.connect_read_only(wait_seconds=10) as conn:
        tables: dict[str, object] = {mode: actual(conn, mode) for mode in AGGREGATE_TABLES}
    tables["raw_usage_events"] = sorted(stored_events(store), key=lambda event: event.event_id)
    return tables


@dataclass(frozen=True)
class Golden:
    """A DuckDB file holding a good export of DAY, and what its tables say."""

    path: Path
    tables: dict[str, object]


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> Golden:
    root = tmp_path_factory.mktemp("golden")
    with DifySimulator(new_workspace()) as dify, ApiMeterServer() as api_meter, pytest.MonkeyPatch.context() as mp:
        setup = MeterSetup(root, dify, api_meter)
        setup.apply(mp, MAX_RETRIES="0")
        assert main(export_args(DAY, DAY)) == 0
        return Golden(setup.store.path, day_tables(setup.store))


@pytest.fixture
def meter(tmp_path, golden, monkeypatch):
    with DifySimulator(new_workspace()) as dify, ApiMeterServer() as api_meter:
        setup = MeterSetup(tmp_path, dify, api_meter)
        setup.apply(monkeypatch, MAX_RETRIES="0")
        setup.store.path.parent.mkdir(parents=True)
        shutil.copyfile(golden.path, setup.store.path)
        monkeypatch.setitem(
            resources.SOURCES, "console", lambda dify, store, retry: console_source(dify, store, NO_WAIT)
        )
        yield setup


ONE_DAY = ["--date", str(DAY), "--mode", "all"]


def export(capsys, *arguments: str) -> tuple[int, str]:
    """`dify-meter export ARGUMENTS` (default: DAY, every aggregate and the delivery): exit code and stderr."""
    try:
        code = main(["export", *(arguments or ONE_DAY)])
    except SystemExit as exit_info:  # argparse's own usage errors
        code = int(exit_info.code or 0)
    return code, capsys.readouterr().err


# --- configuration: refused before anything is contacted (exit 2) ----------------------------------------


@pytest.mark.parametrize(
    ("env", "arguments", "message"),
    [
        (
            {"DIFY_API_URL": "dify.example.com"},
            ONE_DAY,
            "DIFY_API_URL: expected an http(s) URL such as https://host.example.com, got 'dify.example.com'",
        ),
        (
            {"DIFY_WORKSPACE_ID": ""},
            ONE_DAY,
            "DIFY_WORKSPACE_ID is required with DIFY_API_KEY: the workspace (tenant) id",
        ),
        ({"DIFY_API_KEY": ""}, ONE_DAY, "Dify credentials are missing: set DIFY_API_KEY and DIFY_WORKSPACE_ID"),
        (
            {"DIFY_TIMEZONE": "Mars/Olympus"},
            ONE_DAY,
            "DIFY_TIMEZONE: expected an IANA timezone name such as UTC or Europe/Berlin, got 'Mars/Olympus'",
        ),
        (
            {},
            ["--start-date", "2026-06-04", "--end-date", "2026-06-02"],
            "--start-date 2026-06-04 is after --end-date 2026-06-02",
        ),
        (
            {"DIFY_START_DATE": "2026-06-04", "DIFY_END_DATE": "2026-06-02"},
            ["--mode", "all"],
            "DIFY_START_DATE (2026-06-04) is after DIFY_END_DATE (2026-06-02)",
        ),
        (
            {},
            ["--start-date", "2024-12-30", "--end-date", "2024-12-31"],
            "--start-date 2024-12-30 is before DIFY_PARTITIONS_START (2025-01-01): there is no partition for it. "
            "Pick a later day, or set DIFY_PARTITIONS_START earlier.",
        ),
        (
            {"API_METER_URL": "http://meter.example.com"},
            ONE_DAY,
            "API_METER_URL: must use https:// (http:// is allowed only for loopback hosts)",
        ),
        (
            {"API_METER_TENANT_ID": "tenant-1"},
            ONE_DAY,
            "API_METER_TENANT_ID: expected a UUID such as 12345678-1234-1234-1234-123456789abc, got 'tenant-1'",
        ),
        (
            {"DIFY_OUTPUT_MODE": "per_team"},
            ONE_DAY,
            "DIFY_OUTPUT_MODE: Input should be 'per_model', 'per_user', 'per_app', 'workspace' or 'all'",
        ),
        ({"DIFY_LOOKBACK_DAYS": "-1"}, ONE_DAY, "DIFY_LOOKBACK_DAYS: Input should be greater than or equal to 0"),
    ],
    ids=[
        "bad DIFY_API_URL",
        "no DIFY_WORKSPACE_ID",
        "no credentials",
        "bad DIFY_TIMEZONE",
        "start after end",
        "DIFY_START_DATE after DIFY_END_DATE",
        "before the partitions start",
        "http API_Meter not on loopback",
        "non-UUID tenant",
        "unknown DIFY_OUTPUT_MODE",
        "negative DIFY_LOOKBACK_DAYS",
    ],
)
def test_bad_configuration_is_refused_naming_the_setting(env, arguments, message, meter, golden, monkeypatch, capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value) if value else monkeypatch.delenv(name, raising=False)
    code, err = export(capsys, *arguments)
    assert code == 2, err
    assert message in err
    assert meter.dify.request_log == [] and meter.api_meter.request_log == []
    assert day_tables(meter.store) == golden.tables


def test_a_duckdb_folder_that_cannot_be_created_is_refused_naming_the_setting(meter, golden, monkeypatch, capsys):
    blocker = meter.root / "a-file"
    blocker.write_text("a file where DIFY_METER_DUCKDB expects a folder\n")
    monkeypatch.setenv("DIFY_METER_DUCKDB", str(blocker / "sub" / "m.duckdb"))
    code, err = export(capsys)
    assert code == 2, err
    assert f"cannot write the run log next to DuckDB file {blocker / 'sub' / 'm.duckdb'}" in err
    assert "Check DIFY_METER_DUCKDB: its folder must be creatable and writable." in err
    assert "Traceback" not in err and meter.dify.request_log == []
    assert day_tables(meter.store) == golden.tables  # the file DIFY_METER_DUCKDB named before is untouched


# --- Dify fails or answers nonsense: the run stops (exit 1) and the day keeps its rows ---------------------


def serve_instead(path_end: str, reply: Reply):
    """An intercept answering every request whose path ends with `path_end` with `reply`."""

    def answer(request: Request) -> Reply | None:
        return reply if request.path.endswith(path_end) else None

    return answer


NON_UTF8_PAGE = b'{"data": [], "has_more": false, "limit": 100, "total": 0, "page": 1, "note": "caf\xe9 \xff\xfe"}'


@pytest.mark.parametrize(
    ("env", "faults", "intercept", "messages"),
    [
        (
            {"DIFY_API_KEY": "not-the-admin-key"},
            [],
            None,
            [
                "GET /account/profile was refused with 401",
                "Check DIFY_API_KEY (Dify's ADMIN_API_KEY) and DIFY_WORKSPACE_ID, and that Dify runs with "
                "ADMIN_API_KEY_ENABLE=true.",
            ],
        ),
        (
            {"DIFY_WORKSPACE_ID": "00000000-0000-4000-8000-000000000000"},
            [],
            None,
            [
                "GET /account/profile was refused with 401",
                "Check DIFY_API_KEY (Dify's ADMIN_API_KEY) and DIFY_WORKSPACE_ID",
            ],
        ),
        (
            {"DIFY_API_URL": "http://127.0.0.1:{closed}"},
            [],
            None,
            [
                "GET /account/profile: could not reach Dify at http://127.0.0.1:{closed}/console/api after 5 attempts",
                "Check DIFY_API_URL and that Dify is up.",
            ],
        ),
        (
            {},
            ["503:next=1000"],
            None,
            [
                "GET /account/profile failed with HTTP 503 (service_unavailable) after 5 attempts",
                "Dify did not recover within the retries: run again later.",
            ],
        ),
        (
            {},
            ["malformed:path=/account/profile:next=2"],
            None,
            [
                "GET /account/profile: expected JSON, got text/html; charset=utf-8 starting with '<!DOCTYPE html>",
                "2 times in a row. Is a proxy or a maintenance page answering for Dify at {dify}/console/api? "
                "Run again once Dify answers normally.",
            ],
        ),
        (
            {},
            ["malformed:path=workflow-app-logs:body=json:next=1000"],
            None,
            [
                "/workflow-app-logs for app",
                "expected JSON, got application/json starting with '{",
                "Run again once Dify answers normally.",
            ],
        ),
        (
            {},
            ["truncated:path=/apps:next=1000"],
            None,
            [
                "GET /apps: Dify at {dify}/console/api did not answer completely after 5 attempts (RemoteProtocolError",
                "Run again once Dify and the network to it are stable.",
            ],
        ),
        (
            {},
            [],
            serve_instead("/chat-conversations", Reply(200, NON_UTF8_PAGE)),
            [
                "/chat-conversations for app",
                "expected JSON, got application/json starting with",
                "Run again once Dify answers normally.",
            ],
        ),
        (
            {},
            [],
            serve_instead("/chat-conversations", Reply(200, b"\x00garbage" * (TEN_MB // 8))),
            [
                "/chat-conversations for app",
                "expected JSON, got application/json starting with '\\x00garbage",
                "Run again once Dify answers normally.",
            ],
        ),
    ],
    ids=[
        "wrong DIFY_API_KEY",
        "wrong DIFY_WORKSPACE_ID",
        "unreachable Dify",
        "Dify 503 throughout",
        "HTML page from a proxy",
        "malformed JSON",
        "truncated body",
        "non-UTF-8 bytes",
        "10 MB of garbage",
    ],
)
def test_a_failing_dify_stops_the_run_clearly_and_the_day_keeps_its_rows(
    env, faults, intercept, messages, meter, golden, monkeypatch, capsys
):
    closed = closed_port()
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(closed=closed))
    for fault in faults:
        meter.dify.faults.add(fault)
    if intercept:
        meter.dify.intercept(intercept)
    code, err = export(capsys)
    assert code == 1, err
    assert "The run failed.\nraw_usage_events: " in err
    for message in messages:
        assert message.replace("{closed}", str(closed)).replace("{dify}", meter.dify.base_url) in err
    assert len(err) < 3000 and "Traceback" not in err  # a few lines, however big or strange the answer was
    log = Path(err.split("Full log: ")[1].split()[0])
    assert log.stat().st_size < 200_000  # the whole story is in the log, but not a 10 MB body
    assert meter.api_meter.request_log == []
    assert day_tables(meter.store) == golden.tables


def test_a_dify_url_that_is_not_dify_names_the_setting(meter, golden, monkeypatch, capsys):
    monkeypatch.setenv("DIFY_API_URL", meter.api_meter.base_url)  # a web server, just not Dify
    code, err = export(capsys)
    assert code == 1 and "GET /account/profile failed with HTTP 404" in err
    assert day_tables(meter.store) == golden.tables
    assert "DIFY_API_URL" in err


def test_a_10_mb_page_that_is_valid_json_is_read_exactly(meter, capsys):
    padded: list[str] = []

    def padded_page(request: Request) -> Reply | None:
        if padded or not request.path.endswith("/chat-conversations"):
            return None
        padded.append(request.path)
        answer = meter.dify.respond(request.method, request.path, request.query, request.headers)
        return replace(answer, body={**answer.body, "padding": "x" * TEN_MB})

    meter.dify.intercept(padded_page)
    code, err = export(capsys, "--date", str(DAY), "--mode", "all", "--force")
    assert code == 0, err
    assert padded
    events = truth(meter.dify.workspace, DAY, DAY)
    assert_duckdb_holds(meter.store, events)
    assert api_meter_holds(meter.api_meter) == api_meter_truth(events)


# --- API_Meter and local files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "messages", "status"),
    [
        (
            {"API_METER_URL": "http://127.0.0.1:{closed}"},
            [
                "Could not reach POST http://127.0.0.1:{closed}/v1/usage: "
                "check API_METER_URL and that API_Meter is up.",
                "The data is kept",
            ],
            "failed",
        ),
        (
            {"API_METER_TOKEN": "not-the-token"},
            ["API_Meter refused the token (HTTP 401): the bearer token is wrong", "Check API_METER_TOKEN"],
            "failed",
        ),
    ],
    ids=["unreachable API_Meter", "wrong API_METER_TOKEN"],
)
def test_a_failing_delivery_keeps_the_data_and_spools_the_day(
    env, messages, status, meter, golden, monkeypatch, capsys
):
    closed = closed_port()
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(closed=closed))
    code, err = export(capsys, "--date", str(DAY), "--mode", "all", "--force")  # re-send what API_Meter has
    assert code == 1, err
    assert "The run failed.\napi_meter_sent: API_Meter delivery failed for 2026-06-03" in err
    for message in messages:
        assert message.format(closed=closed) in err
    assert day_tables(meter.store) == golden.tables  # rebuilt from the same answers: the same rows
    assert open_spool_days(meter.store) == [DAY]
    assert meter.api_meter.records() == {}


def test_a_malformed_normalization_file_names_the_file_and_keeps_the_aggregates(meter, golden, monkeypatch, capsys):
    mapping = meter.root / "my-models.toml"
    mapping.write_text('[azure.deployments]\n"my-gpt4o-prod" = gpt-4o\n')  # the value is not quoted
    monkeypatch.setenv("DIFY_METER_NORMALIZATION_FILE", str(mapping))
    code, err = export(capsys)
    assert code == 1, err
    assert f"usage_per_model: dify_meter.usage.normalize.NormalizationConfigError: {mapping}: not valid TOML" in err
    assert "fix the syntax there" in err
    assert day_tables(meter.store) == golden.tables
    assert meter.api_meter.request_log == []


def test_a_duckdb_file_that_is_not_a_database_is_named_and_left_alone(meter, capsys):
    text = b"name,tokens\nnot a database,1\n" * 1000
    meter.store.path.write_bytes(text)
    code, err = export(capsys)
    assert code == 1, err
    assert f"raw_usage_events: dify_meter.core.store.StoreError: cannot open DuckDB file {meter.store.path}" in err
    assert "it is not a valid DuckDB database file" in err and "Check DIFY_METER_DUCKDB" in err
    assert meter.store.path.read_bytes() == text
    assert meter.api_meter.request_log == []


def test_a_provider_name_with_quotes_and_sql_is_data_normalized_to_unknown(meter, capsys):
    provider = "openai'); DROP TABLE raw_usage_events; --"
    model = "gpt-4o\"; DELETE FROM usage_per_model WHERE '1'='1"
    workspace = meter.dify.workspace
    app = next(
        a
        for a in workspace.apps.values()
        if a.mode == "workflow"
        and a.status == "normal"
        and any(workspace.log_of_run(run.id) for run in workspace.runs_of(a.id))
    )
    (run,) = add_workflow_runs(workspace, app.id, [datetime(2026, 6, 3, 12, tzinfo=UTC)])  # a new run arrives
    node = next(
        node
        for node in workspace.nodes_of(run.id)
        if node.node_type == "llm" and (node.process_data or {}).get("usage")
    )
    node.process_data = {**node.process_data, "model_provider": provider, "model_name": model}
    code, err = export(capsys, "--date", str(DAY), "--mode", "all", "--force")
    assert code == 0, err
    expected = truth(workspace, DAY, DAY)
    assert_duckdb_holds(meter.store, expected)  # every table still there, every number exact
    assert api_meter_holds(meter.api_meter) == api_meter_truth(expected)
    with meter.store.connect_read_only() as conn:
        stored = conn.execute(
            "SELECT provider_raw, model_raw FROM raw_usage_events WHERE event_id = ?", [node.id]
        ).fetchall()
        per_model = conn.execute(
            "SELECT provider, model, raw_models FROM usage_per_model "
            "WHERE usage_date = ? AND provider = 'unknown' AND model = 'unknown'",
            [DAY],
        ).fetchall()
    assert stored == [(provider, model)]  # stored verbatim, as data
    ((normalized_provider, normalized_model, raw_models),) = per_model
    assert (normalized_provider, normalized_model) == ("unknown", "unknown")
    assert f"{provider} / {model}" in raw_models
