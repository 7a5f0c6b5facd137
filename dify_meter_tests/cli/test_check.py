"""`dify-meter check` against the Dify simulator and the reference API_Meter over loopback, good and bad."""

from __future__ import annotations

import json

import pytest

from dify_meter.sandbox.api_meter.server import DEFAULT_TENANT_ID, DEFAULT_TOKEN
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.loopback import LoopbackServer, Request, Response
from dify_meter_tests.support.cli import closed_port, run_check

pytestmark = pytest.mark.e2e
OTHER_TENANT = "87654321-4321-4321-4321-cba987654321"
OTHER_WORKSPACE = "0f0e0d0c-0b0a-4909-8807-060504030201"


def test_good_settings_pass_and_nothing_is_written(configured, dify, api_meter, capsys):
    code, out = run_check(capsys)
    assert code == 0, out
    assert "Dify: OK" in out and "API_Meter: OK" in out
    assert "Dify version: 1.12.1 (X-Version)" in out
    assert f"workspace:    {dify.workspace.tenant.name} ({dify.workspace_id})" in out
    apps = len(dify.workspace.apps)
    assert f"apps:         {apps} (" in out
    assert (
        "timezone:     account America/New_York, DIFY_TIMEZONE UTC: they differ. The export is right either "
        "way: it converts each UTC day into America/New_York"
    ) in out
    assert (
        "accepted: URL, token, tenant (this server checks both before the body: 401 without a token, 403 for "
        "another tenant)"
    ) in out
    assert [request.status for request in api_meter.request_log] == [400, 401, 403]
    assert api_meter.records() == {}  # nothing stored
    assert dify.detail_reads == {} and {r.method for r in dify.request_log} <= {"GET", "POST"}
    assert {r.path.removeprefix("/console/api") for r in dify.request_log if r.method == "POST"} == {
        "/workspaces/current"
    }  # a read that Dify serves only on POST
    assert DEFAULT_TOKEN not in out and dify.api_key not in out


def test_the_same_timezone_is_said_to_line_up(configured, monkeypatch, capsys):
    monkeypatch.setenv("DIFY_TIMEZONE", "America/New_York")
    code, out = run_check(capsys)
    assert code == 0
    assert "account America/New_York, DIFY_TIMEZONE America/New_York: the same" in out


def _wrong_admin_key(workspace_id: str) -> str:
    return (
        f"problem: Dify refused the admin API key for workspace {workspace_id} (HTTP 401: Invalid token.). Dify "
        "gives this same answer for a wrong DIFY_API_KEY, for a DIFY_WORKSPACE_ID that is not a workspace of "
        "this Dify, and when the Dify server does not run with ADMIN_API_KEY_ENABLE=true."
    )


@pytest.mark.parametrize(
    ("setting", "value", "failed", "message"),
    [
        ("DIFY_API_KEY", "wrong-admin-key", "Dify", "WORKSPACE"),
        ("DIFY_WORKSPACE_ID", OTHER_WORKSPACE, "Dify", _wrong_admin_key(OTHER_WORKSPACE)),
        ("DIFY_WORKSPACE_ID", "my-workspace", "Dify", "DIFY_WORKSPACE_ID 'my-workspace' is not even a UUID"),
        ("DIFY_API_URL", "CLOSED", "Dify", "problem: GET /account/profile: could not reach Dify at http://127.0.0.1:"),
        ("DIFY_API_URL", "API_METER", "Dify", "There is no Dify console API at http://127.0.0.1:"),
        (
            "API_METER_TOKEN",
            "wrong-meter-token",
            "API_Meter",
            "problem: API_Meter refused the token (HTTP 401): the bearer token is wrong, expired or missing. Check "
            f"API_METER_TOKEN: it is the bearer token API_Meter issued for tenant {DEFAULT_TENANT_ID}.",
        ),
        (
            "API_METER_TENANT_ID",
            OTHER_TENANT,
            "API_Meter",
            f"problem: API_Meter accepted the token but not for tenant {OTHER_TENANT} (HTTP 403). Check "
            "API_METER_TENANT_ID, and that API_METER_TOKEN was issued for that tenant.",
        ),
        (
            "API_METER_URL",
            "WITH_PATH",
            "API_Meter",
            "/v1/usage/v1/usage: the URL is wrong. Check API_METER_URL: it is the base URL of API_Meter; the exporter "
            "appends /v1/usage. API_METER_URL already ends in /v1/usage: remove that part.",
        ),
        ("API_METER_URL", "CLOSED", "API_Meter", "problem: could not reach API_Meter at http://127.0.0.1:"),
    ],
)
def test_each_wrong_setting_is_named_with_its_fix(
    setting, value, failed, message, configured, dify, api_meter, monkeypatch, capsys
):
    value = {
        "CLOSED": f"http://127.0.0.1:{closed_port()}",
        "API_METER": api_meter.base_url,
        "WITH_PATH": f"{api_meter.base_url}/v1/usage",
    }.get(value, value)
    if message == "WORKSPACE":
        message = _wrong_admin_key(dify.workspace_id)
    monkeypatch.setenv(setting, value)
    code, out = run_check(capsys)
    assert code == 1
    assert f"{failed}: FAILED" in out and message in out
    assert f"{'API_Meter' if failed == 'Dify' else 'Dify'}: OK" in out  # the other side is still checked
    assert api_meter.records() == {}
    for secret in (DEFAULT_TOKEN, dify.api_key, "wrong-admin-key", "wrong-meter-token"):
        assert secret not in out


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("DIFY_API_URL", None, "DIFY_API_URL is required"),
        ("API_METER_TOKEN", None, "API_METER_TOKEN required to send to API_Meter"),
        ("API_METER_TENANT_ID", "tenant-7", "API_METER_TENANT_ID: expected a UUID"),
        ("API_METER_URL", "http://meter.example.com", "API_METER_URL: must use https://"),
    ],
)
def test_bad_configuration_exits_2_before_contacting_anything(
    setting, value, message, configured, dify, api_meter, monkeypatch, capsys
):
    if value is None:
        monkeypatch.delenv(setting)
    else:
        monkeypatch.setenv(setting, value)
    code, out = run_check(capsys)
    assert code == 2 and message in out
    assert dify.request_log == [] and api_meter.request_log == []


def test_a_local_only_mode_needs_no_api_meter(configured, monkeypatch, capsys):
    for name in ("API_METER_URL", "API_METER_TOKEN", "API_METER_TENANT_ID"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("DIFY_OUTPUT_MODE", "per_app")
    code, out = run_check(capsys)
    assert code == 0 and "API_Meter: not configured; DIFY_OUTPUT_MODE=per_app sends nothing to it." in out


def test_service_account_login_and_a_wrong_password(workspace, configured, monkeypatch, capsys):
    with DifySimulator(workspace, email="meter@corp.example", password="s3cret-pass") as simulator:
        monkeypatch.setenv("DIFY_API_URL", simulator.base_url)
        monkeypatch.delenv("DIFY_API_KEY")
        monkeypatch.delenv("DIFY_WORKSPACE_ID")
        monkeypatch.setenv("DIFY_EMAIL", "meter@corp.example")
        monkeypatch.setenv("DIFY_PASSWORD", "s3cret-pass")
        code, out = run_check(capsys)
        assert code == 0, out
        assert "auth:         service account meter@corp.example (DIFY_EMAIL, DIFY_PASSWORD not shown)" in out
        monkeypatch.setenv("DIFY_PASSWORD", "guessed-pass")
        code, out = run_check(capsys)
    assert code == 1
    assert "Invalid email or password." in out and "Check DIFY_EMAIL and DIFY_PASSWORD" in out
    assert "s3cret-pass" not in out and "guessed-pass" not in out


def _body_first_answer(request: Request) -> Response:
    """An API_Meter that validates the body before it looks at the token: every empty list is a 400."""
    body = json.dumps(
        {"error": "invalid request", "details": [{"index": None, "field": "records", "message": "must not be empty"}]}
    ).encode()
    return Response(400, body, [("Content-Type", "application/json")])


def test_a_server_that_reads_the_body_first_proves_only_the_url(configured, monkeypatch, capsys):
    with LoopbackServer(_body_first_answer) as api_meter:
        monkeypatch.setenv("API_METER_URL", api_meter.base_url)
        code, out = run_check(capsys)
    assert code == 0
    assert "accepted: URL\n" in out
    assert "note: the token is not proven: without any token this server answers HTTP 400, not 401" in out
    assert "note: the tenant is not proven: for another tenant this server answers HTTP 400, not 403" in out
