"""`python -m dify_meter.sandbox.dify.cli` starts, prints how to reach it (in its auth mode), and serves."""

from __future__ import annotations

import base64
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
    command = [
        sys.executable,
        "-m",
        "dify_meter.sandbox.dify.cli",
        "--port",
        str(port),
        "--start-date",
        "2026-11-01",
        "--days",
        "2",
        "--api-key",
        "cli-key",
        "--workspace-id",
        "12345678-1234-4234-8234-123456789abc",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        summary = process.stdout.readline()
        assert lines == {
            "DIFY_API_URL": f"http://127.0.0.1:{port}",
            "DIFY_API_KEY": "cli-key",
            "DIFY_WORKSPACE_ID": "12345678-1234-4234-8234-123456789abc",
        }
        assert "apps" in summary and "messages" in summary
        response = httpx.get(
            f"{lines['DIFY_API_URL']}/console/api/workspaces/current/members",
            headers={"Authorization": "Bearer cli-key", "X-WORKSPACE-ID": lines["DIFY_WORKSPACE_ID"]},
        )
        assert response.status_code == 200 and len(response.json()["accounts"]) == 4
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cli_with_login_prints_the_email_and_password_and_applies_version_and_faults() -> None:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "dify_meter.sandbox.dify.cli",
        "--port",
        str(port),
        "--start-date",
        "2026-11-01",
        "--days",
        "1",
        "--dify-version",
        "1.11.2",
        "--email",
        "ops@example.com",
        "--password",
        "Secret-123",
        "--latency-ms",
        "1",
        "--max-parallel",
        "2",
        "--fault",
        "503:path=/apps:next=1",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        admin_key_comment = process.stdout.readline()
        assert lines == {
            "DIFY_API_URL": f"http://127.0.0.1:{port}",
            "DIFY_EMAIL": "ops@example.com",
            "DIFY_PASSWORD": "Secret-123",
        }
        assert admin_key_comment.startswith("# the admin key works too: DIFY_API_KEY=")
        with httpx.Client(base_url=f"{lines['DIFY_API_URL']}/console/api") as client:
            login = client.post(
                "/login",
                json={
                    "email": "ops@example.com",
                    "password": base64.b64encode(b"Secret-123").decode(),
                    "remember_me": False,
                },
            )
            headers = {"X-CSRF-Token": client.cookies["csrf_token"]}
            first, second = client.get("/apps", headers=headers), client.get("/apps", headers=headers)
        assert login.status_code == 200 and login.headers["X-Version"] == "1.11.2"
        assert (first.status_code, second.status_code) == (503, 200)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    "option, message",
    [
        (["--fault", "503:soon=1"], "expected key=value"),
        (["--email", "a@b.example"], "--email needs --password"),
        (["--dify-version", "v2"], "looks like 1.12.1"),
        (["--max-parallel", "0"], "max_parallel must be 1 or more"),
    ],
)
def test_cli_refuses_bad_options_with_a_clear_message(option: list[str], message: str) -> None:
    command = [sys.executable, "-m", "dify_meter.sandbox.dify.cli", "--port", "0", "--days", "1", *option]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr


def test_cli_refuses_a_non_loopback_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dify_meter.sandbox.dify.cli", "--host", "10.1.2.3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "loopback" in result.stderr
