"""An app a source did not read, and why: the checks name it, so no app is ever skipped silently."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SkippedApp:
    app_id: str
    app_name: str
    mode: str
    reason: str
    unread_usage: bool = False  # the app may have usage that was not read (a mode this exporter does not know)
