"""Requests of the fetch benchmark: what kind each served request was, and the fewest of each kind that
the usage semantics need for a window (docs/usage-semantics.md, dify-console-api.md).

The minimum is computed from the simulated workspace itself, not from the exporter's code:
1 profile, the app list pages, for each app its list pages (chat-type: conversations updated since
the window start; completion: conversations created in the window; workflow: app logs of the window
widened by DIFY_MAX_RUN_SECONDS), for each listed chat conversation created before the window's end
its message pages, one node-execution read per advanced-chat message of the window with a run and per
workflow run started in the window, one detail per chat conversation with a message in the window and
per completion conversation of the window (none cached: a first run), and one statistics/token-costs
per messages-based app for the comparison check. An app Dify answers 404 (archived) costs its one
listing request: the app list does not tell its status.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import datetime, timedelta

from dify_meter.sandbox.dify.generate import Workspace
from dify_meter.sandbox.dify.tables import DEBUGGER

PAGE = 100  # the exporter asks for the largest page Dify allows
CHAT_TYPES = ("chat", "agent-chat", "advanced-chat")
MESSAGE_BASED = ("chat", "agent-chat", "completion", "advanced-chat")

# (kind, label), in the order the fetch reads them.
KINDS: tuple[tuple[str, str], ...] = (
    ("profile", "account profile"),
    ("apps", "app list pages"),
    ("chat_lists", "chat conversation list pages"),
    ("completion_lists", "completion conversation list pages"),
    ("log_lists", "workflow app log pages"),
    ("messages", "chat message pages"),
    ("nodes", "node-execution reads"),
    ("chat_details", "chat conversation details"),
    ("completion_details", "completion conversation details"),
    ("token_costs", "statistics/token-costs"),
    ("other", "other"),
)
_ID = r"[0-9a-fA-F-]{36}"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rf"/console/api{pattern}$"))
    for kind, pattern in (
        ("profile", "/account/profile"),
        ("apps", "/apps"),
        ("chat_lists", rf"/apps/{_ID}/chat-conversations"),
        ("completion_lists", rf"/apps/{_ID}/completion-conversations"),
        ("log_lists", rf"/apps/{_ID}/workflow-app-logs"),
        ("messages", rf"/apps/{_ID}/chat-messages"),
        ("nodes", rf"/apps/{_ID}/workflow-runs/{_ID}/node-executions"),
        ("chat_details", rf"/apps/{_ID}/chat-conversations/{_ID}"),
        ("completion_details", rf"/apps/{_ID}/completion-conversations/{_ID}"),
        ("token_costs", rf"/apps/{_ID}/statistics/token-costs"),
    )
)


def request_kind(path: str) -> str:
    return next((kind for kind, pattern in _PATTERNS if pattern.match(path)), "other")


def _pages(items: int) -> int:
    return max(1, math.ceil(items / PAGE))


def minimum_requests(ws: Workspace, start: datetime, end: datetime, max_run_seconds: int = 3600) -> Counter[str]:
    """The fewest requests of each kind that read every usage event of [start, end) on a first run."""
    need: Counter[str] = Counter(profile=1, apps=_pages(len(ws.apps)))
    logs_until = end + timedelta(seconds=max_run_seconds)
    for app in ws.apps.values():
        if app.status != "normal":
            if app.mode in CHAT_TYPES:
                need["chat_lists"] += 1
            elif app.mode == "completion":
                need["completion_lists"] += 1
            elif app.mode == "workflow":
                need["log_lists"] += 1
            continue
        if app.mode in MESSAGE_BASED:
            need["token_costs"] += 1
        if app.mode in CHAT_TYPES:
            listed = [
                c
                for c in ws.conversations_of(app.id)
                if c.updated_at >= start and not (app.mode == "advanced-chat" and c.invoke_from == DEBUGGER)
            ]
            need["chat_lists"] += _pages(len(listed))
            for conversation in listed:
                if conversation.created_at >= end:
                    continue
                messages = ws.messages_of(conversation.id)
                need["messages"] += _pages(len(messages))
                in_window = [m for m in messages if start <= m.created_at < end]
                if app.mode == "advanced-chat":
                    need["nodes"] += sum(1 for m in in_window if m.workflow_run_id)
                elif in_window:
                    need["chat_details"] += 1
        elif app.mode == "completion":
            created = [c for c in ws.conversations_of(app.id) if start <= c.created_at < end]
            need["completion_lists"] += _pages(len(created))
            need["completion_details"] += len(created)
        elif app.mode == "workflow":
            logs = [log for log in ws.logs_of(app.id) if start <= log.created_at <= logs_until]
            need["log_lists"] += _pages(len(logs))
            runs = {
                log.workflow_run_id for log in logs if start <= ws.workflow_runs[log.workflow_run_id].created_at < end
            }
            need["nodes"] += len(runs)
    return need
