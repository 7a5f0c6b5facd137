"""The seed reader, and the workspace it reads from the vendored fixtures' seed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dify_meter.sandbox.dify.end_user_types import DIFY_END_USER_TYPES
from dify_meter.sandbox.dify.fixture_workspace import AGENT_APP_IDS, AGENT_DEBUG_CONVERSATION, fixture_workspace
from dify_meter.sandbox.dify.seed_sql import Update, read_inserts, read_updates
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


def test_multi_row_statements_over_several_lines_and_updates() -> None:
    sql = """-- a comment with a quote: it's skipped
SELECT id AS owner_id FROM accounts
  WHERE email = 'a@b' \\gset
BEGIN;
INSERT INTO t (a, b) VALUES
 ('x; not the end', 1),
 (:'owner_id', NULL);
UPDATE t SET b = '2026-11-11 10:00:00', c = 1 WHERE id = :'owner_id';
COMMIT;
"""
    assert list(read_inserts(sql, {"owner_id": "o-1"})) == [
        ("t", {"a": "x; not the end", "b": "1"}),
        ("t", {"a": "o-1", "b": None}),
    ]
    assert list(read_updates(sql, {"owner_id": "o-1"})) == [Update("t", "o-1", {"b": "2026-11-11 10:00:00", "c": "1"})]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("INSERT INTO t (a, b) VALUES ('x');", "2 columns but 1 values"),
        ("INSERT INTO t (a) VALUES (:'missing');", "has no value"),
        ("INSERT INTO t (a) VALUES (now());", "cannot read a value"),
        ("INSERT INTO t (a) SELECT 1;", "not an INSERT ... VALUES"),
        ("INSERT INTO t (a) VALUES ('x') ('y');", "expected ','"),
        ("UPDATE t SET a = 1 WHERE id = 'x' AND b = 2;", "only `WHERE id = value`"),
        ("UPDATE t WHERE id = 'x';", "not an UPDATE"),
    ],
)
def test_malformed_lines_are_named(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        list(read_inserts(line, {}))
        list(read_updates(line, {}))


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


def test_the_agent_seed_adds_the_recorded_agent_app() -> None:
    ws = fixture_workspace(SEED_FILE, fixtures_dir("1.16.1") / "fixture-seed-agent.sql")
    agent_rows = [m for m in ws.messages.values() if m.app_id == AGENT_APP_IDS.app_id]
    assert (len(ws.apps), len(ws.conversations), len(agent_rows)) == (7, 15, 4)
    assert sum(m.message_tokens + m.answer_tokens for m in agent_rows) == 17_150  # 10-agent-statistics-summary
    debug = ws.conversations[AGENT_DEBUG_CONVERSATION]
    assert debug.updated_at == datetime(2026, 11, 11, 10, tzinfo=UTC)  # the seed's UPDATE
    assert {end_user.type for end_user in ws.end_users.values()} <= set(DIFY_END_USER_TYPES)
    assert ws.apps[AGENT_APP_IDS.app_id].bound_agent_id == AGENT_APP_IDS.agent_id
