"""No secret escapes: the Dify admin key, the service-account password, Dify's session cookies and CSRF token and
the API_Meter token, right or wrong, appear in no log record (DEBUG), no Dagster event or its metadata, no DuckDB
value, no spool entry, no exception text, no CLI output, no dry-run payload and no file written anywhere, after
runs that succeed and runs forced to fail (wrong key, password and token; 5xx from Dify and API_Meter)."""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from dify_meter.cli.main import main
from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.api_meter.server import ApiMeterServer
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.tokens import TokenPair
from dify_meter.settings import load_settings
from dify_meter.sources.console.errors import DifyError
from dify_meter_tests.support.resilience import (
    MeterSetup,
    materialize_command,
    run_command,
)
from dify_meter_tests.support.settings import refresh_raw

pytestmark = [pytest.mark.resilience, pytest.mark.e2e]
DAY1, DAY2 = date(2026, 6, 2), date(2026, 6, 3)
ADMIN_KEY = "dk-SECRET-ADMIN-KEY-7f3a9c1e"
PASSWORD = "pw-SECRET-PASSWORD-4b1e8d2a"
METER_TOKEN = "am-SECRET-METER-TOKEN-2c6d0a9f"
WRONG_KEY = "dk-SECRET-WRONG-KEY-5e5e0b1d"
WRONG_PASSWORD = "pw-SECRET-WRONG-PASSWORD-3c3c"
WRONG_TOKEN = "am-SECRET-WRONG-TOKEN-9a9a7e2f"
EMAIL = "meter-bot@corp.example"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def leaks(secrets: Iterable[str], where: str, text: str) -> list[str]:
    return [f"{secret!r} in {where}" for secret in secrets if secret in text]


def duckdb_leaks(store: DuckDBStore, secrets: list[str]) -> list[str]:
    """Every value of every column of every table and view, as text."""
    found = []
    with store.connect_read_only(wait_seconds=10) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        ]
        assert {"raw_usage_events", "usage_per_model", "api_meter_ledger", "api_meter_spool"} <= set(tables)
        for table in tables:
            columns = [
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
                ).fetchall()
            ]
            text = "\n".join(
                str(row)
                for row in conn.execute(
                    "SELECT "
                    + ", ".join(f"CAST({column!r} AS VARCHAR)".replace(chr(39), chr(34)) for column in columns)
                    + " "
                    f"FROM {table}"
                ).fetchall()
            )
            found += leaks(secrets, f"DuckDB table {table}", text)
    return found


def dagster_leaks(secrets: list[str]) -> list[str]:
    """Every run's record (tags, config) and every event of its event log (messages, metadata, errors)."""
    found = []
    with dg.DagsterInstance.get() as instance:
        runs = [record.dagster_run for record in instance.get_run_records()]
        assert len(runs) >= 8
        for run in runs:
            found += leaks(secrets, f"run {run.run_id}", serialize_value(run))
            for entry in instance.all_logs(run.run_id):
                found += leaks(secrets, f"an event of run {run.run_id}", serialize_value(entry))
    return found


def file_leaks(root, secrets: list[str]) -> list[str]:
    """Every file under `root`: DAGSTER_HOME's storage, compute logs, run logs, dry-run payloads, the DuckDB file."""
    found = []
    files = [path for path in root.rglob("*") if path.is_file()]
    assert any(path.suffix == ".log" for path in files) and any("dry-runs" in path.parts for path in files)
    for path in files:
        found += leaks(secrets, str(path), path.read_bytes().decode("latin-1"))
    return found


def test_no_secret_appears_anywhere(tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    issued: list[str] = []
    workspace = generate_workspace(seed=5, start_date=DAY1 - timedelta(days=1), days=4)
    with (
        DifySimulator(workspace, api_key=ADMIN_KEY, email=EMAIL, password=PASSWORD) as dify,
        ApiMeterServer(token=METER_TOKEN) as api_meter,
    ):
        issue = dify.accounts.tokens.issue

        def recording(account_id: str) -> TokenPair:  # Dify's session cookies and CSRF tokens, as they are issued
            pair = issue(account_id)
            issued.extend([pair.access_token, pair.refresh_token, pair.csrf_token])
            return pair

        dify.accounts.tokens.issue = recording  # type: ignore[method-assign]
        meter = MeterSetup(tmp_path, dify, api_meter)
        meter.apply(monkeypatch, API_METER_TOKEN=METER_TOKEN, MAX_RETRIES="0")
        password_login = {
            name: value
            for name, value in meter.env(
                DIFY_EMAIL=EMAIL, DIFY_PASSWORD=PASSWORD, API_METER_TOKEN=METER_TOKEN, MAX_RETRIES="0"
            ).items()
            if name not in ("DIFY_API_KEY", "DIFY_WORKSPACE_ID")
        }
        exceptions: list[BaseException] = []
        codes = []

        # Runs that work: the admin key in-process, the password login from the shell, a dry run, the checks.
        codes.append(main(["export", "--date", str(DAY1), "--mode", "all"]))
        shell = run_command(materialize_command(DAY2, DAY2), password_login)
        assert shell.returncode == 0, shell.stdout[-3000:] + shell.stderr[-3000:]
        codes.append(main(["export", "--date", str(DAY1), "--dry-run", "--force"]))
        codes.append(main(["check"]))
        for name, value in password_login.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("DIFY_API_KEY")
        monkeypatch.delenv("DIFY_WORKSPACE_ID")
        codes.append(main(["check"]))
        assert codes == [0, 0, 0, 0], capsys.readouterr()

        # Runs forced to fail: wrong token, API_Meter 5xx, Dify 5xx, wrong password, wrong admin key.
        monkeypatch.setenv("API_METER_TOKEN", WRONG_TOKEN)
        codes.append(main(["export", "--date", str(DAY2), "--force"]))
        codes.append(main(["check"]))
        monkeypatch.setenv("API_METER_TOKEN", METER_TOKEN)
        api_meter.fail_next(1, status=502)
        codes.append(main(["export", "--date", str(DAY1), "--force"]))
        dify.faults.add("503:path=/apps:next=1000")
        codes.append(main(["export", "--date", str(DAY2)]))
        dify.faults.clear()
        monkeypatch.setenv("DIFY_PASSWORD", WRONG_PASSWORD)
        codes.append(main(["export", "--date", str(DAY2)]))
        monkeypatch.setenv("DIFY_API_KEY", WRONG_KEY)
        monkeypatch.setenv("DIFY_WORKSPACE_ID", dify.workspace_id)
        codes.append(main(["export", "--date", str(DAY2)]))
        codes.append(main(["spool", "list"]))
        assert codes[4:] == [1, 1, 1, 1, 1, 1, 0]

        # The same failures met directly, as a caller of the plain Python layer would.
        store = DuckDBStore(meter.store.path)
        window = (datetime(2026, 6, 3, tzinfo=UTC), datetime(2026, 6, 4, tzinfo=UTC))
        for credentials in ({"dify_api_key": WRONG_KEY}, {"dify_api_key": None, "dify_password": WRONG_PASSWORD}):
            with pytest.raises(DifyError) as caught:
                refresh_raw(load_settings(**credentials), store, *window)
            exceptions.append(caught.value)
        settings_text = repr(load_settings()) + str(load_settings().model_dump())
        output = capsys.readouterr()

    secrets = [
        ADMIN_KEY,
        PASSWORD,
        b64(PASSWORD),
        METER_TOKEN,
        WRONG_KEY,
        WRONG_PASSWORD,
        b64(WRONG_PASSWORD),
        WRONG_TOKEN,
        *issued,
    ]
    assert len(issued) >= 3, "the password login must have run, with its cookies and CSRF token"
    exception_text = "\n".join("".join(traceback.format_exception(error)) + repr(error) for error in exceptions)
    found = (
        leaks(secrets, "the CLI's output", output.out + output.err + shell.stdout + shell.stderr)
        + leaks(secrets, "the log records", caplog.text)
        + leaks(secrets, "exception text", exception_text)
        + leaks(secrets, "the settings' repr", settings_text)
        + dagster_leaks(secrets)
        + duckdb_leaks(store, secrets)
        + file_leaks(tmp_path, secrets)
    )
    assert found == []
    assert "401" in exception_text and len(caplog.records) > 50  # the failures and the logs were really there
