"""The seed reader, and the workspace it reads from the vendored fixtures' seed."""

from __future__ import annotations

import pytest

from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.seed_sql import read_inserts
from dify_meter_tests.support.fixture_files import SEED_FILE, fixtures_dir


def test_the_test_seed_is_the_older_recordings_with_valid_end_user_types() -> None:
    # the older recordings' seed differs in one value only: an end user type Dify never writes (E4 of 1.16.1)
    older = (fixtures_dir("1.12.1") / "fixture-seed.sql").read_text(encoding="utf-8")
    assert older.count("'web-app', 'web-7f3a9c'") == 1
    assert older.replace("'web-app', 'web-7f3a9c'", "'browser', 'web-7f3a9c'") == SEED_FILE.read_text(encoding="utf-8")


def test_values_of_every_kind() -> None:
    line = "INSERT INTO t (a, b, c, d, e, f) VALUES ('it''s, ok', NULL, true, 0.0065390, :'owner_id', '{\"k\": 1}');"
    assert list(read_inserts(line, {"owner_id": "o-1"})) == [
        ("t", {"a": "it's, ok", "b": None, "c": True, "d": "0.0065390", "e": "o-1", "f": '{"k": 1}'})
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("INSERT INTO t (a, b) VALUES ('x');", "2 columns but 1 values"),
        ("INSERT INTO t (a) VALUES (:'missing');", "has no value"),
        ("INSERT INTO t (a) VALUES (now());", "cannot read a value"),
        ("INSERT INTO t (a) SELECT 1;", "not an INSERT ... VALUES"),
    ],
)
def test_malformed_lines_are_named(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        list(read_inserts(line, {}))


def test_fixture_workspace_has_the_recorded_rows() -> None:
    ws = fixture_workspace(SEED_FILE)
    assert (
        len(ws.apps),
        len(ws.conversations),
        len(ws.messages),
        len(ws.workflow_runs),
        len(ws.node_executions),
        len(ws.workflow_app_logs),
    ) == (6, 12, 18, 7, 23, 4)
    assert ws.owner.email == "admin@example.com" and ws.tenant.id == "bc7707d9-0233-49fd-8a56-07e7cfcf41ae"
    assert ws.accounts["91000000-0000-4000-8000-000000000001"].role == "editor"
