"""`dify-meter check` with DIFY_SOURCE=database: what the read-only probes of Dify's PostgreSQL found, one
PASS / WARN / FAIL line each. The report fails on what stops the export (an unreadable or missing column, a
workspace that is no tenant, node executions kept outside PostgreSQL); a role that could write only warns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dify_meter.cli.check_database_lines import Line, Status, describe
from dify_meter.settings import Settings
from dify_meter.sources.database.errors import DatabaseSourceError, describe_target
from dify_meter.sources.database.probe import probe_database
from dify_meter.sources.database.sessions import DatabaseTarget

CHECK_TIMEOUT_SECONDS = 15.0


@dataclass
class DatabaseCheckReport:
    name: str = "Dify database"
    lines: list[Line] = field(default_factory=list)
    problem: str | None = None  # the probes could not run at all

    @property
    def ok(self) -> bool:
        return self.problem is None and all(status != "FAIL" for status, _, _ in self.lines)

    def add(self, status: Status, label: str, text: str) -> None:
        self.lines.append((status, label, text))

    def render(self) -> str:
        out = [f"{self.name}: {'OK' if self.ok else 'FAILED'}"]
        width = max((len(label) for _, label, _ in self.lines), default=0)
        out += [f"  {status} {label + ':':<{width + 1}} {text}" for status, label, text in self.lines]
        if self.problem:
            out.append(f"  problem: {self.problem}")
        return "\n".join(out)


def check_database(settings: Settings) -> DatabaseCheckReport:
    """Requires DIFY_SOURCE=database (the settings guarantee DIFY_DATABASE_URL and DIFY_WORKSPACE_ID)."""
    assert settings.dify_database_url is not None and settings.dify_workspace_id is not None
    url = settings.dify_database_url.get_secret_value()
    target = DatabaseTarget(
        url,
        statement_timeout_seconds=min(settings.dify_database_statement_timeout_seconds, CHECK_TIMEOUT_SECONDS),
        lock_timeout_seconds=settings.dify_database_lock_timeout_seconds,
        connect_timeout_seconds=CHECK_TIMEOUT_SECONDS,
    )
    report = DatabaseCheckReport()
    report.add("PASS", "connection", f"{describe_target(url)} (DIFY_DATABASE_URL, password not shown)")
    try:
        found = probe_database(target, settings.dify_workspace_id, timezone=settings.dify_timezone)
    except DatabaseSourceError as exc:
        report.lines.clear()
        report.problem = (
            f"{exc}. Check DIFY_DATABASE_URL (postgresql://user:password@host:port/database) and that the server "
            "accepts this role from this machine."
        )
        return report
    for status, label, text in describe(found, settings.dify_workspace_id, settings.dify_timezone):
        report.add(status, label, text)
    return report
