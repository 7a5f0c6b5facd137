"""The only requests the exporter ever sends to Dify: reads, plus what logging in takes.

The client checks every request against this list before it sends anything (see
`dify_meter.sources.console.transport`), so a bug elsewhere cannot change or delete data in Dify. Paths are
relative to `{DIFY_API_URL}/console/api`; `{name}` stands for one id segment. A path that matches is
made of these literal segments and plain ids only, so it reaches Dify exactly as written: no dot
segment, escape, query, scheme or host can slip through and be resolved elsewhere.

Two allowed requests are not pure reads, and are here on purpose:
- `POST /workspaces/current` only reads the workspace (Dify answers GET with 405);
- a conversation detail read marks the conversation read in Dify's log view (usage-semantics.md
  says when it may happen: once per conversation, ever).
"""

from __future__ import annotations

import re
from functools import cache

from dify_meter.sources.console.errors import DifyRequestNotAllowed

ALLOWED_REQUESTS: tuple[tuple[str, str], ...] = (
    ("GET", "/setup"),  # unauthenticated: its X-Version picks the login form
    ("POST", "/login"),
    ("POST", "/refresh-token"),
    ("POST", "/workspaces/current"),
    ("GET", "/account/profile"),
    ("GET", "/apps"),
    ("GET", "/apps/{id}"),
    ("GET", "/apps/{id}/chat-conversations"),
    ("GET", "/apps/{id}/chat-conversations/{conversation_id}"),
    ("GET", "/apps/{id}/completion-conversations"),
    ("GET", "/apps/{id}/completion-conversations/{conversation_id}"),
    ("GET", "/apps/{id}/chat-messages"),
    ("GET", "/apps/{id}/workflow-app-logs"),
    ("GET", "/apps/{id}/workflow-runs/{run_id}/node-executions"),
    ("GET", "/apps/{id}/statistics/token-costs"),
    ("GET", "/apps/{id}/workflow/statistics/token-costs"),
    # Dify 1.16 agent apps (docs/agent-apps.md): reads in every state (`with_session(write=False)`); the agent
    # endpoints that create a debug conversation or a draft when read are not here
    ("GET", "/agent/{id}/logs/{conversation_id}/messages"),
    ("GET", "/agent/{id}/versions"),
    ("GET", "/agent/{id}/versions/{version_id}"),
)

_ID_SEGMENT = "[A-Za-z0-9_-]+"  # Dify ids are UUIDs: no dots, slashes or escapes that could change the path


@cache
def _patterns() -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    compiled = []
    for method, template in ALLOWED_REQUESTS:
        pattern = re.sub(r"\\\{[a-z_]+\\\}", _ID_SEGMENT, re.escape(template))
        compiled.append((method, template, re.compile(pattern + "$")))
    return tuple(compiled)


def allowed_template(method: str, path: str) -> str | None:
    """The allowlist entry that `method path` (relative to /console/api) matches, or None."""
    for allowed_method, template, pattern in _patterns():
        if method == allowed_method and pattern.match(path):
            return template
    return None


def check_allowed(method: str, path: str) -> None:
    """Raise DifyRequestNotAllowed unless `method path` (relative to /console/api) is on the allowlist."""
    if allowed_template(method, path) is None:
        raise DifyRequestNotAllowed(
            f"refused to send {method} {path} to Dify: the exporter only reads Dify, and this request is not "
            "on its allowlist (dify_meter/sources/console/allowlist.py). Nothing was sent."
        )
