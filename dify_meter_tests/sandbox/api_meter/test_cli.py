from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from dify_meter.api_meter.records import build_request
from dify_meter.sandbox.api_meter.cli import register
from dify_meter.sandbox.api_meter.store import ApiMeterStore
from dify_meter_tests.support.api_meter_samples import TENANT_ID, TOKEN, sample_records

pytestmark = pytest.mark.integration


def test_register_adds_the_api_meter_sub_command() -> None:
    parser = argparse.ArgumentParser(prog="dify-meter sandbox")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["api-meter", "--port", "0", "--fail-next", "2", "--retry-after", "5"])
    assert (args.port, args.fail_next, args.fail_status, args.retry_after, args.store) == (0, 2, 503, "5", None)
    assert callable(args.handler)


def test_cli_prints_the_settings_serves_and_persists(tmp_path: Path) -> None:
    store = tmp_path / "meter.sqlite"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dify_meter.sandbox.api_meter.cli",
            "--port",
            "0",
            "--store",
            str(store),
            "--fail-next",
            "1",
            "--fail-status",
            "504",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(3)]
        settings = dict(line.split("=", 1) for line in lines)
        assert set(settings) == {"API_METER_URL", "API_METER_TOKEN", "API_METER_TENANT_ID"}
        assert settings["API_METER_TOKEN"] == TOKEN and settings["API_METER_TENANT_ID"] == TENANT_ID
        content = build_request(
            sample_records(1), tenant_id=TENANT_ID, exporter_version="t", export_timestamp=datetime.now(UTC)
        )
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        with httpx.Client(base_url=settings["API_METER_URL"], headers=headers, timeout=5) as client:
            assert client.post("/v1/usage", content=content).status_code == 504  # --fail-next 1
            assert client.post("/v1/usage", content=content).json() == {"inserted": 1, "updated": 0, "total": 1}
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0
    assert len(ApiMeterStore(store).records()) == 1
