"""What the exporter knows about Dify's versions (X-Version): for reporting and for the one behaviour that
cannot be seen in an answer, the app list leaving out agent apps (1.16+). Where a chat model comes from is
decided per list item, never by version."""

from __future__ import annotations

import re
from dataclasses import dataclass

NEWEST_RECORDED = "1.16.1"  # the newest Dify whose answers were recorded (dify_meter_tests/fixtures)
AGENT_APPS_SINCE = (1, 16, 0)  # New Agent apps (mode `agent`), listed only with `mode=agent`
MODEL_IN_LIST_ITEMS_SINCE = (1, 14, 0)  # D1 of the 1.14.1 recording (1.13.x was not recorded)
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def version_number(version: str | None) -> tuple[int, int, int] | None:
    found = _VERSION.match(version or "")
    if found is None:
        return None
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


def lists_agent_apps_apart(version: str | None) -> bool:
    """Whether agent apps must be listed with `mode=agent`; an unknown version is asked too (a 1.16+ may
    hide its X-Version behind a proxy)."""
    number = version_number(version)
    return number is None or number >= AGENT_APPS_SINCE


@dataclass(frozen=True, slots=True)
class VersionReport:
    """What `dify-meter check` says applies to a Dify version."""

    model_source: str
    detail_reads: str
    newer_than_recorded: bool


def version_report(version: str | None) -> VersionReport:
    number = version_number(version)
    if number is not None and number >= MODEL_IN_LIST_ITEMS_SINCE:
        model_source, details = (
            "the conversation list items (chat, agent-chat); the detail where an item has none",
            "completion only (tokens are only there), once per conversation",
        )
    else:
        model_source, details = (
            "each conversation's detail (chat, agent-chat, completion); list items that carry "
            "a model are used as they are",
            "chat, agent-chat, completion, once per conversation (it marks the conversation read in Dify)",
        )
    newest = version_number(NEWEST_RECORDED)
    return VersionReport(model_source, details, number is not None and newest is not None and number > newest)
