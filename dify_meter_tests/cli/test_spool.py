from __future__ import annotations

import pytest

from dify_meter.api_meter import spool
from dify_meter.api_meter.deliver import deliver_window
from dify_meter.cli.main import main
from dify_meter.defs.resources import build_resources
from dify_meter.settings import load_settings
from dify_meter_tests.support.delivery import DAY1, day_events, expected, held, load_day

pytestmark = pytest.mark.e2e


@pytest.fixture
def failed_day(store, server, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("MAX_RETRIES", "1")  # one automatic replay allowed: the failed day stays pending
    load_day(store, DAY1, day_events(DAY1))
    server.fail_next(2, status=503)
    settings = load_settings()
    sender = build_resources(settings).resolved().api_meter.sender()
    outcome = deliver_window(sender, store, DAY1, DAY1, timezone=settings.timezone)
    assert outcome.failed_days
    return DAY1


def test_list_replay_and_drop(failed_day, store, server, capsys):
    assert main(["spool", "list"]) == 0
    listing = capsys.readouterr().out
    assert str(failed_day) in listing and "pending" in listing and "503" in listing

    assert main(["spool", "replay", "--date", str(failed_day)]) == 0
    assert f"{failed_day}: delivered" in capsys.readouterr().out
    assert held(server) == expected(store)

    assert main(["spool", "list"]) == 0
    assert "The spool is empty" in capsys.readouterr().out
    assert main(["spool", "list", "--all"]) == 0
    assert "resolved" in capsys.readouterr().out

    assert main(["spool", "drop", "--date", str(failed_day)]) == 0
    assert main(["spool", "drop", "--date", str(failed_day)]) == 1
    with store.connect() as conn:
        assert spool.get_entry(conn, failed_day) is None


def test_replay_that_still_fails_says_why_and_exits_1(failed_day, server, capsys):
    server.fail_next(10, status=503)
    assert main(["spool", "replay"]) == 1
    out = capsys.readouterr().out
    assert f"{failed_day}: still failing" in out and "503" in out


def test_a_bad_date_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["spool", "drop", "--date", "2026-13-01"])
    assert exit_info.value.code == 2
    assert "expected a date as YYYY-MM-DD" in capsys.readouterr().err


def test_list_shows_an_entry_out_of_replays_as_failed(failed_day, store, monkeypatch, capsys):
    monkeypatch.setenv("MAX_RETRIES", "0")  # no automatic replay: the open entry waits for a person
    with store.connect() as conn:
        conn.execute("UPDATE api_meter_spool SET next_attempt_at = now() - INTERVAL 1 MINUTE")
    assert main(["spool", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {failed_day} |"))
    assert "| failed |" in row
