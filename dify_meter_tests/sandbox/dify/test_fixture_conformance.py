"""Replay every recorded Dify exchange of each version against the simulator in that version, loaded with
the fixture seed.

Each fixture of files 01-09 gets a fresh simulator, prepared to the state the recording was made in (see
`_prepare`: before setup, logged in, clock pinned), and must answer with the recorded status,
headers (Set-Cookie names and attributes included) and body. For 1.12.1 the only normalized field is
`api_base_url`, which names the server's own address; secrets come from the simulator's session. The later
recordings ran on another fresh database: what their INDEX.md lists as differing between two recordings
(workspace and owner ids, recording-time timestamps, cookie `Expires`) is normalized on both sides.

1.16.1's agent files (`10-agent-*`) are reads of one state, so they share one simulator seeded with
`fixture-seed.sql` plus `fixture-seed-agent.sql`; the creation they start from (`10-agent-create`) runs on a
simulator of its own, its generated ids normalized. `11-*` (E4) is replayed over the older seed it was
recorded with, whose end user type `'web-app'` 1.16 rejects.
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
from dify_meter.sandbox.dify.versions import RECORDED_VERSIONS
from dify_meter_tests.support.fixture_files import BASELINE, SEED_FILE, fixture_files, fixtures_dir, load_fixture

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


AGENT_SEED_FILE = fixtures_dir("1.16.1") / "fixture-seed-agent.sql"
AGENT_CREATE = "10-agent-create.json"
AGENT_READS = [p.name for p in fixture_files("1.16.1") if p.name.startswith("10-") and p.name != AGENT_CREATE]
E4_FIXTURE = "11-chat-conversations-enduser-type-web-app-400.json"
OLDER_SEED_FILE = fixtures_dir("1.14.1") / "fixture-seed.sql"  # end user e1..02 of type 'web-app'
E4_WORKSPACE = "5c8f574a-7bf9-4e1b-bbd3-6a466be6cd0e"  # that first recording's (11-*'s note)


@pytest.mark.parametrize("version", ["1.12.1", "1.14.1", "1.16.1"])
def test_every_recorded_fixture_is_replayed(version: str) -> None:
    assert len(fixture_files(version)) >= 84  # the whole recording, setup and login included
    replayed = {name for v, name in VERSION_FIXTURES if v == version}
    if version == "1.16.1":
        replayed |= {AGENT_CREATE, E4_FIXTURE, *AGENT_READS}
    assert replayed == {path.name for path in fixture_files(version)}


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


def _replay(dify: DifySimulator, http: httpx.Client, recorded: dict[str, Any]) -> httpx.Response:
    request = recorded["request"]
    http.cookies.clear()
    return http.request(
        request["method"],
        dify.base_url + request["path"],
        params=request["query"],
        headers=_request_headers(request["headers"], dify, {}),
        json=request.get("body"),
    )


def _assert_answers_like(response: httpx.Response, expected: dict[str, Any]) -> None:
    assert response.status_code == expected["status"]
    for header in ("Content-Type", "X-Version"):
        assert response.headers[header] == expected["headers"][header]
    assert _set_cookies(response) == expected["headers"].get("Set-Cookie", [])


@pytest.fixture(scope="module")
def agent_dify() -> Iterator[DifySimulator]:
    """The 1.16.1 recording's state after the agent app was created and its seed loaded (reads only from here)."""
    workspace = fixture_workspace(SEED_FILE, AGENT_SEED_FILE)
    with DifySimulator(workspace, dify_version="1.16.1", workspace_id=RECORDED_SETUP_IDS["1.16.1"][0]) as dify:
        yield dify


@pytest.mark.integration
@pytest.mark.parametrize("name", AGENT_READS)
def test_simulator_answers_like_recorded_dify_agent_app(
    name: str, agent_dify: DifySimulator, http: httpx.Client
) -> None:
    recorded = load_fixture(name, "1.16.1")
    before = agent_dify.workspace.digest()
    response = _replay(agent_dify, http, recorded)
    assert agent_dify.errors == [] and agent_dify.workspace.digest() == before  # each recorded read is pure
    _assert_answers_like(response, recorded["response"])
    owner_id = agent_dify.workspace.owner.id
    body, expected = (_without_site_address(b) for b in (response.json(), recorded["response"]["body"]))
    assert _normalized(body, "1.16.1", owner_id) == _normalized(expected, "1.16.1", owner_id)


def _without_site_address(body: Any) -> Any:
    body = _without_base_url(body)
    if isinstance(body, dict) and isinstance(body.get("site"), dict):
        return {**body, "site": {**body["site"], "app_base_url": "<server address>"}}
    return body


ROLES = {"id": "<agent id>", "app_id": "<app id>", "debug_conversation_id": "<debug conversation id>"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _without_generated(body: dict[str, Any]) -> dict[str, Any]:
    """The ids and times a replayed creation makes differ from the recording's: named by role (and checked
    well-formed), so `backing_app_id` must still be the app's id and the site's access token its code."""
    assert all(UUID.fullmatch(body[key]) for key in ROLES)
    assert re.fullmatch(r"[A-Za-z0-9]{16}", body["site"]["code"])
    names = {body[key]: role for key, role in ROLES.items()} | {body["site"]["code"]: "<site code>"}

    def walk(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if key in ("created_at", "updated_at"):
            return "<creation time>"
        return names.get(value, value) if isinstance(value, str) else value

    return walk(body)


@pytest.mark.integration
def test_simulator_creates_an_agent_app_like_recorded_dify(http: httpx.Client) -> None:
    recorded = load_fixture(AGENT_CREATE, "1.16.1")
    with DifySimulator(
        fixture_workspace(SEED_FILE), dify_version="1.16.1", workspace_id=RECORDED_SETUP_IDS["1.16.1"][0]
    ) as dify:
        response = _replay(dify, http, recorded)
        assert dify.errors == []
        owner_id = dify.workspace.owner.id
        [app] = [a for a in dify.workspace.apps.values() if a.mode == "agent"]
    _assert_answers_like(response, recorded["response"])
    body, expected = (
        _without_generated(_normalized(_without_site_address(b), "1.16.1", owner_id))
        for b in (response.json(), recorded["response"]["body"])
    )
    assert body == expected
    assert (app.id, app.bound_agent_id) == (response.json()["app_id"], response.json()["id"])


@pytest.mark.integration
def test_an_end_user_type_dify_never_writes_fails_1_16_list_pages_only(http: httpx.Client) -> None:
    """E4: over the older seed (end user e1..02 of type 'web-app') 1.16.1 answers the recorded 400 for the page
    holding that end user's conversation; 1.12.1 and 1.14.1 answered it with 200."""
    recorded = load_fixture(E4_FIXTURE, "1.16.1")
    answers = {}
    for version in RECORDED_VERSIONS:
        with DifySimulator(fixture_workspace(OLDER_SEED_FILE), dify_version=version, workspace_id=E4_WORKSPACE) as dify:
            answers[version] = _replay(dify, http, recorded)
            assert dify.errors == []
    _assert_answers_like(answers["1.16.1"], recorded["response"])
    address = re.compile(r"0x[0-9a-f]+>")
    body, expected = (
        {**b, "message": address.sub("<address>", b["message"])}
        for b in (answers["1.16.1"].json(), recorded["response"]["body"])
    )
    assert body == expected
    for older in ("1.12.1", "1.14.1"):
        page = answers[older].json()
        assert answers[older].status_code == 200
        assert page["data"][1]["from_end_user_session_id"] == "web-7f3a9c"  # the item 1.16 cannot serialize
