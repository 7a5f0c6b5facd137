"""Replay every recorded Dify exchange of each version against the simulator in that version, loaded with
the fixture seed.

Each fixture gets a fresh simulator, prepared to the state the recording was made in (see
`_prepare`: before setup, logged in, clock pinned), and must answer with the recorded status,
headers (Set-Cookie names and attributes included) and body. For 1.12.1 the only normalized field is
`api_base_url`, which names the server's own address; secrets come from the simulator's session. The later
recordings ran on another fresh database: what their INDEX.md lists as differing between two recordings
(workspace and owner ids, recording-time timestamps, cookie `Expires`) is normalized on both sides.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter_tests.support.fixture_files import BASELINE, SEED_FILE, fixture_files, load_fixture

PASSWORD = "Sandbox-Passw0rd"
LOGIN_TIME = datetime(2026, 11, 28, 0, 7, 43, tzinfo=UTC)  # the recorded login and refresh (cookie Expires)
BEFORE_SETUP = {"08-setup-get-before-setup.json", "08-setup-post.json"}
SESSION_FIXTURES = {
    "08-cookie-get-with-csrf-200.json",
    "08-cookie-get-without-csrf-401.json",
    "08-refresh-token.json",
    "08-bearer-access-token-without-csrf-401.json",
}
READ_TIME = datetime.fromtimestamp(1795824465, UTC)  # when the recordings read the first details
SUPPORT_CHAT = "a1000000-0000-4000-8000-000000000001"


def _prepare(name: str, recorded: dict[str, Any], dify: DifySimulator, http: httpx.Client) -> dict[str, str]:
    """Put the simulator in the state the recording was made in; the session cookies the recording used, if any."""
    owner = dify.workspace.owner
    if name.startswith("08-"):
        dify.set_now(LOGIN_TIME)
    if name in SESSION_FIXTURES:
        login = httpx.post(
            f"{dify.base_url}/console/api/login",
            json={"email": owner.email, "password": _base64(PASSWORD), "remember_me": False},
        )
        assert login.status_code == 200
        return dict(login.cookies)
    if name.endswith("-utc.json"):
        owner.timezone = "UTC"  # the recordings switched the owner to UTC by SQL for these
    if name == "07-account-profile-new-york.json":
        owner.last_login_at = None  # recorded before the first login of the session
    if "conversation-detail" in name:
        body = recorded["response"]["body"]
        dify.set_now(datetime.fromtimestamp(body["updated_at"], UTC) if "updated_at" in body else READ_TIME)
    if name == "02-chat-conversations-after-detail-reads.json":
        dify.set_now(READ_TIME)
        for conversation_id in ("c1000000-0000-4000-8000-000000000001", "c1000000-0000-4000-8000-000000000002"):
            url = f"{dify.base_url}/console/api/apps/{SUPPORT_CHAT}/chat-conversations/{conversation_id}"
            response = http.get(url, headers=dify.auth_headers())
            assert response.status_code == 200
    return {}


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _request_headers(recorded: dict[str, str], dify: DifySimulator, session: dict[str, str]) -> dict[str, str]:
    """The recorded headers with their secrets: the admin key, or the session's tokens where a session was used."""
    headers = {}
    for name, value in recorded.items():
        if name == "Cookie":
            value = "; ".join(
                f"{cookie}={session[cookie]}" for cookie, _ in (pair.split("=", 1) for pair in value.split("; "))
            )
        elif name == "X-CSRF-Token":
            value = session["csrf_token"]
        elif name == "Authorization" and session:
            value = f"Bearer {session['access_token']}"
        headers[name] = value.replace("<redacted>", dify.api_key)
    return headers


def _request_body(recorded: dict[str, Any] | None) -> dict[str, Any] | None:
    if recorded is None:
        return None
    secrets = {"<redacted: the plain password>": PASSWORD, "<redacted: base64 of the password>": _base64(PASSWORD)}
    return {key: secrets.get(value, value) for key, value in recorded.items()}


def _set_cookies(response: httpx.Response) -> list[str]:
    """Set-Cookie headers with their values redacted, as the recordings keep them."""
    return [re.sub(r"^([^=]+)=[^;]*", r"\1=<redacted>", header) for header in response.headers.get_list("set-cookie")]


def _without_base_url(body: Any) -> Any:
    if isinstance(body, dict) and "api_base_url" in body:
        return {**body, "api_base_url": "<server address>"}
    return body


# The workspace and owner ids the setup of each recording created (the simulator takes the workspace id).
RECORDED_SETUP_IDS = {
    "1.12.1": ("bc7707d9-0233-49fd-8a56-07e7cfcf41ae", None),
    "1.14.1": ("f81d809b-8a47-4025-87c4-858860c62328", "4c179dad-8fa7-4071-a8e9-dcd93372e337"),
    "1.16.1": ("a5348b75-0170-432e-bccc-10cb0fd17fcf", "d49ab8d2-bdbc-4110-8102-a3f90ab52ae6"),
}
RECORDING_TIMES = {"setup_at", "last_login_at", "last_active_at", "read_at"}
VERSION_FIXTURES = [
    (version, path.name)
    for version in ("1.12.1", "1.14.1", "1.16.1")
    for path in fixture_files(version)
    if not path.name.startswith(("10-", "11-"))
]


def _normalized(body: Any, version: str, owner_id: str) -> Any:
    """Both sides of a later recording's comparison: setup ids and recording-time timestamps replaced."""
    workspace_id, recorded_owner_id = RECORDED_SETUP_IDS[version]
    ids = {recorded_owner_id: "<owner id>", owner_id: "<owner id>"}
    created_by_setup = {workspace_id, recorded_owner_id, owner_id}

    def walk(value: Any, key: str | None = None, setup_row: bool = False) -> Any:
        if isinstance(value, dict):
            is_setup_row = value.get("id") in created_by_setup or "plan" in value  # owner, workspace, tenant
            return {k: walk(v, k, is_setup_row) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if key in RECORDING_TIMES or (setup_row and key == "created_at"):
            return None if value is None else "<recording time>"
        if isinstance(value, str):
            return ids.get(value, value)
        return value

    return walk(body)


@pytest.mark.parametrize("version", ["1.12.1", "1.14.1"])
def test_every_recorded_fixture_is_replayed(version: str) -> None:
    assert len(fixture_files(version)) >= 84  # the whole recording, setup and login included


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:  # one client: building one costs more than a request
        yield client


@pytest.mark.integration
@pytest.mark.parametrize(("version", "name"), VERSION_FIXTURES)
def test_simulator_answers_like_recorded_dify(version: str, name: str, http: httpx.Client) -> None:
    recorded = load_fixture(name, version)
    request, expected = recorded["request"], recorded["response"]
    http.cookies.clear()  # the client is shared: no session may leak from one fixture into the next
    with DifySimulator(
        fixture_workspace(SEED_FILE),
        password=PASSWORD,
        set_up=name not in BEFORE_SETUP,
        dify_version=version,
        workspace_id=RECORDED_SETUP_IDS[version][0],
    ) as dify:
        owner_id = dify.workspace.owner.id
        session = _prepare(name, recorded, dify, http)
        response = http.request(
            request["method"],
            dify.base_url + request["path"],
            params=request["query"],
            headers=_request_headers(request["headers"], dify, session),
            json=_request_body(request.get("body")),
        )
        assert dify.errors == []
    assert response.status_code == expected["status"]
    for header in ("Content-Type", "X-Version"):
        assert response.headers[header] == expected["headers"][header]
    if version == BASELINE:
        assert _set_cookies(response) == expected["headers"].get("Set-Cookie", [])
        assert _without_base_url(response.json()) == _without_base_url(expected["body"])
        return
    without_expires = re.compile(r"; Expires=[^;]*")
    assert [without_expires.sub("", cookie) for cookie in _set_cookies(response)] == [
        without_expires.sub("", cookie) for cookie in expected["headers"].get("Set-Cookie", [])
    ]
    assert _normalized(_without_base_url(response.json()), version, owner_id) == _normalized(
        _without_base_url(expected["body"]), version, owner_id
    )
