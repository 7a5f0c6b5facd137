"""`python -m dify_meter.sandbox.dify_cli` starts, prints how to reach it, and serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cli_serves_a_generated_workspace() -> None:
    port = _free_port()
    command = [sys.executable, "-m", "dify_meter.sandbox.dify_cli", "--port", str(port), "--start-date", "2026-11-01",
               "--days", "2", "--api-key", "cli-key", "--workspace-id", "12345678-1234-4234-8234-123456789abc"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        summary = process.stdout.readline()
        assert lines == {"DIFY_API_URL": f"http://127.0.0.1:{port}", "DIFY_API_KEY": "cli-key",
                         "DIFY_WORKSPACE_ID": "12345678-1234-4234-8234-123456789abc"}
        assert "apps" in summary and "messages" in summary
        response = httpx.get(f"{lines['DIFY_API_URL']}/console/api/workspaces/current/members",
                             headers={"Authorization": "Bearer cli-key", "X-WORKSPACE-ID": lines["DIFY_WORKSPACE_ID"]})
        assert response.status_code == 200 and len(response.json()["accounts"]) == 4
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cli_refuses_a_non_loopback_host() -> None:
    result = subprocess.run([sys.executable, "-m", "dify_meter.sandbox.dify_cli", "--host", "10.1.2.3"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "loopback" in result.stderr
