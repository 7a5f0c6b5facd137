"""`dify-meter check` says which behaviours apply to the Dify version it finds, and warns past the recordings."""

from __future__ import annotations

import pytest

from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter_tests.support.agent_apps import with_recorded_agent_app
from dify_meter_tests.support.cli import run_check
from dify_meter_tests.support.fixture_files import SEED_FILE

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("version", "model_from", "details", "newer"),
    [
        ("1.12.1", "model from:   each conversation's detail", "detail reads: chat, agent-chat, completion", False),
        ("1.14.1", "model from:   the conversation list items", "detail reads: completion only", False),
        ("1.16.1", "model from:   the conversation list items", "detail reads: completion only", False),
        ("1.18.0", "model from:   the conversation list items", "detail reads: completion only", True),
    ],
)
def test_check_names_the_version_behaviours(
    version,
    model_from,
    details,
    newer,
    configured,  # noqa: F811
    monkeypatch,
    capsys,
) -> None:
    ws = fixture_workspace(SEED_FILE)
    agent_apps = 0
    if version >= "1.16":
        with_recorded_agent_app(ws)
        agent_apps = 1
    with DifySimulator(ws, dify_version=version) as simulator:
        monkeypatch.setenv("DIFY_API_URL", simulator.base_url)
        monkeypatch.setenv("DIFY_API_KEY", simulator.api_key)
        monkeypatch.setenv("DIFY_WORKSPACE_ID", simulator.workspace_id)
        code, out = run_check(capsys)
    assert code == 0, out
    assert f"Dify version: {version} (X-Version)" in out
    assert model_from in out and details in out
    assert f"agent apps:   {agent_apps}\n" in out
    assert ("newer than the newest recorded version (1.16.1)" in out) == newer
    assert "agent, agent-chat" in out  # agent apps are read
    assert "modes this exporter does not read" not in out
