"""`dify-meter check`: can the exporter read Dify and deliver to API_Meter? Writes no usage anywhere.

Exit 0 when both work, 1 when one does not (the output says what is wrong and how to fix it), 2 when
the configuration itself is incomplete or malformed. Secrets are never printed.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

from dify_meter.cli.check_api_meter import CheckReport, check_api_meter
from dify_meter.cli.main import EXIT_FAILED, EXIT_OK
from dify_meter.core.validation import is_uuid
from dify_meter.settings import Settings, SettingsError

if TYPE_CHECKING:
    from dify_meter.cli.check_database import DatabaseCheckReport

SENDING_MODES = ("per_model", "all")
# A check should answer in seconds: two tries, a short wait, instead of the export's patient retries.
CHECK_TIMEOUT_SECONDS = 15.0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "check",
        help="test the Dify and API_Meter connections without writing any usage",
        description="Dify: authentication, version (X-Version), workspace, apps, and the account timezone "
        "against DIFY_TIMEZONE; with DIFY_SOURCE=database, Dify's PostgreSQL instead (server and Dify version, "
        "the columns read and their GRANTs, write access, where node executions are kept, the workspace, "
        "today's events). API_Meter: URL, token and tenant, with requests that cannot store anything. "
        "Exit 0 when both work, 1 when one does not, 2 for bad configuration.",
    )
    parser.set_defaults(handler=run_check)


def config_problems(settings: Settings) -> list[str]:
    """Settings that are missing for what the exporter is configured to do."""
    problems = []
    try:
        settings.require_dify()  # per DIFY_SOURCE: the database source needs the console only with DIFY_API_URL
    except SettingsError as exc:
        problems.append(str(exc))
    api_meter_set = any(
        value is not None for value in (settings.api_meter_url, settings.api_meter_token, settings.api_meter_tenant_id)
    )
    if settings.dify_output_mode in SENDING_MODES or api_meter_set:
        try:
            settings.require_api_meter()
        except SettingsError as exc:
            problems.append(str(exc))
    return problems


def run_check(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    problems = config_problems(settings)
    if problems:
        raise SettingsError("\n".join(problems))
    reports: list[CheckReport | DatabaseCheckReport] = []
    if settings.dify_source == "database":
        from dify_meter.cli.check_database import check_database  # psycopg: only when it is needed

        reports.append(check_database(settings))
        if settings.dify_api_url is None:
            print(
                "Dify console: not configured (DIFY_API_URL unset); the dify_numbers check computes Dify's own "
                "statistics with the SQL Dify runs for them.\n"
            )
    if settings.dify_source == "console" or settings.dify_api_url is not None:
        reports.append(check_dify(settings))
    if settings.api_meter_url is not None:
        reports.append(check_api_meter(settings))
    else:
        print(f"API_Meter: not configured; DIFY_OUTPUT_MODE={settings.dify_output_mode} sends nothing to it.\n")
    for report in reports:
        print(report.render() + "\n")
    return EXIT_OK if all(report.ok for report in reports) else EXIT_FAILED


def _timezone_meaning(account_timezone: str, settings: Settings) -> str:
    if account_timezone == settings.dify_timezone:
        return (
            f"account {account_timezone}, DIFY_TIMEZONE {settings.dify_timezone}: the same, so the daily charts "
            "in Dify count the same days as usage_date"
        )
    return (
        f"account {account_timezone}, DIFY_TIMEZONE {settings.dify_timezone}: they differ. The export is right "
        f"either way: it converts each {settings.dify_timezone} day into {account_timezone} for Dify's start/end "
        f"filters and never changes the account, so usage_date days are calendar days in "
        f"{settings.dify_timezone}. But the daily charts in Dify count days in {account_timezone}, so a day "
        "there holds other hours than the same usage_date here; totals over the same hours agree (the "
        f"dify_numbers check compares those). Set DIFY_TIMEZONE={account_timezone} if the days should line up"
    )


def _auth_mode(settings: Settings) -> str:
    if settings.dify_api_key is not None:
        return f"admin API key (DIFY_API_KEY, not shown) for workspace {settings.dify_workspace_id}"
    return f"service account {settings.dify_email} (DIFY_EMAIL, DIFY_PASSWORD not shown)"


def _refused(settings: Settings, error: Exception) -> str:
    if settings.dify_api_key is None:
        return f"{error}"
    said = getattr(error, "dify_message", None)
    problem = (
        f"Dify refused the admin API key for workspace {settings.dify_workspace_id} (HTTP 401"
        f"{f': {said}' if said else ''}). Dify gives this same answer for a wrong DIFY_API_KEY, for a "
        "DIFY_WORKSPACE_ID that is not a workspace of this Dify, and when the Dify server does not run with "
        "ADMIN_API_KEY_ENABLE=true. Check DIFY_API_KEY against ADMIN_API_KEY on the Dify server, and "
        "DIFY_WORKSPACE_ID against the workspace's id (GET /console/api/all-workspaces lists them)."
    )
    if not is_uuid(settings.dify_workspace_id):
        problem += (
            f" DIFY_WORKSPACE_ID {settings.dify_workspace_id!r} is not even a UUID, as every Dify workspace id is."
        )
    return problem


def check_dify(settings: Settings) -> CheckReport:
    """Requires `settings.require_dify()` to pass. Reads only: profile, current workspace, app list."""
    from dify_meter.core.app_modes import KNOWN_MODES, NO_LLM_MODES, USAGE_MODES
    from dify_meter.core.retry import DIFY_CONSOLE_RETRY
    from dify_meter.defs.resources import build_resources
    from dify_meter.sources.console.dify_versions import NEWEST_RECORDED, version_report
    from dify_meter.sources.console.errors import (
        DifyAuthError,
        DifyConnectionError,
        DifyError,
        DifyHTTPError,
        DifyResponseError,
    )
    from dify_meter.sources.console.listing import apps as list_apps

    report = CheckReport("Dify", facts=[("URL", settings.dify_api_url or ""), ("auth", _auth_mode(settings))])
    retry = replace(DIFY_CONSOLE_RETRY, max_attempts=2, max_total_wait=5.0)
    try:
        client = build_resources(settings).resolved().dify.client(retry=retry, timeout=CHECK_TIMEOUT_SECONDS)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    with client:
        try:
            profile = client.account_profile()
            workspace = client.current_workspace()
            apps = list_apps(client)
        except DifyAuthError as exc:
            report.problem = _refused(settings, exc)
            return report
        except DifyConnectionError as exc:
            report.problem = (
                f"{exc}. Check DIFY_API_URL (the base URL of Dify, e.g. https://dify.example.com) and "
                "that Dify is running and reachable from this machine."
            )
            return report
        except DifyHTTPError as exc:
            report.problem = f"{exc}. " + (
                f"There is no Dify console API at {client.base_url}: check DIFY_API_URL, the base URL of Dify "
                "(e.g. https://dify.example.com; the exporter adds /console/api)."
                if exc.status == 404
                else "Dify answered, but refused to serve the exporter's reads."
            )
            return report
        except DifyResponseError as exc:
            report.problem = f"{client.base_url} answered, but not like Dify's console API: {exc}. Check DIFY_API_URL."
            return report
        except DifyError as exc:
            report.problem = str(exc)
            return report
        version = client.dify_version
    report.facts.append(
        ("Dify version", f"{version} (X-Version)" if version else "unknown: no X-Version header in Dify's answers")
    )
    behaviour = version_report(version)
    report.facts.append(("model from", behaviour.model_source))
    report.facts.append(("detail reads", behaviour.detail_reads))
    report.facts.append(("modes read", ", ".join(sorted(USAGE_MODES))))
    if behaviour.newer_than_recorded:
        report.notes.append(
            f"Dify {version} is newer than the newest recorded version ({NEWEST_RECORDED}): "
            "check the apps_not_read and dify_numbers checks of the first export"
        )
    report.facts.append(("acting as", f"{profile.name} <{profile.email}>"))
    report.facts.append(("workspace", f"{workspace.name} ({workspace.id})"))
    modes = Counter(app.mode for app in apps)
    report.facts.append(
        ("apps", f"{len(apps)}" + (f" ({', '.join(f'{m} {n}' for m, n in sorted(modes.items()))})" if apps else ""))
    )
    report.facts.append(("agent apps", str(modes.get("agent", 0))))
    quiet = sum(n for mode, n in modes.items() if mode in NO_LLM_MODES)
    if quiet:
        report.notes.append(
            f"{quiet} app(s) of modes that make no LLM usage Dify reports "
            f"({', '.join(sorted(NO_LLM_MODES))}) are skipped by the export"
        )
    not_read = sorted(f"{app.name} ({app.mode})" for app in apps if app.mode not in KNOWN_MODES)
    if not_read:
        report.notes.append(
            f"{len(not_read)} app(s) of modes this exporter does not read: {', '.join(not_read)}; "
            "the export names them in the apps_not_read check with Dify's own figures"
        )
    report.facts.append(("timezone", _timezone_meaning(profile.timezone, settings)))
    if settings.dify_api_key is not None and workspace.id != settings.dify_workspace_id:
        report.notes.append(
            f"Dify acts in workspace {workspace.id}, not in DIFY_WORKSPACE_ID {settings.dify_workspace_id}"
        )
    return report
