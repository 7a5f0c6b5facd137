"""Dify's own totals of a window, computed in its database by the SQL its console statistics run.

The independent path the `dify_numbers` check compares the leaf-node events against when DIFY_API_URL is unset:
`statistics/token-costs` (api/controllers/console/app/statistic.py at Dify 1.12.1, 1.14.1 and 1.16.1) sums the
message columns of messages-based apps, debugger excluded, per local date; `workflow/statistics/token-costs`
(workflow_statistic.py) sums `workflow_runs.total_tokens` of app-run runs. One query per statistic covers every app
of the workspace, and the bounds are resolved as Dify resolves the console's `start`/`end` minutes, so the
messages-based figures equal `sources/console/statistics.py::fetch_dify_totals` on the same data (which asks no
workflow statistics).
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from dify_meter.core.app_modes import NO_MESSAGE_STATISTICS_MODES, WORKFLOW
from dify_meter.core.source import DifyAppTotals
from dify_meter.sources.database.errors import DatabaseSourceError
from dify_meter.sources.database.queries import query
from dify_meter.sources.database.sessions import DatabaseTarget, begin_read_only, checked_tenant, connect


def read_dify_totals(
    target: DatabaseTarget, tenant_id: str, window_start: datetime, window_end: datetime, *, timezone: str
) -> list[DifyAppTotals]:
    """Per app Dify keeps statistics for, its tokens and price over [window_start, window_end): messages-based
    apps from `messages`, workflow apps from their app-run `workflow_runs` (tokens only: price 0).

    `timezone` plays the console account's part: the bounds are its minutes, as the console client sends them.
    """
    tenant = checked_tenant(tenant_id, window_start, window_end)
    zone = ZoneInfo(timezone)
    bounds = {"timezone": timezone, "start": dify_bound(window_start, zone), "end": dify_bound(window_end, zone)}
    with closing(connect(target)) as connection:  # closed, never committed: the transaction only read
        try:
            begin_read_only(connection, target)
            apps = _rows(connection, "apps", {"tenant_id": tenant})
            if not apps:
                raise DatabaseSourceError(f"workspace {tenant} is not a tenant of this Dify database (no tenants row)")
            message_apps = [a for a in apps if a["app_id"] and a["app_mode"] not in NO_MESSAGE_STATISTICS_MODES]
            workflow_apps = [a for a in apps if a["app_mode"] == WORKFLOW]
            days = _rows(connection, "message_statistics", {**bounds, "app_ids": [a["app_id"] for a in message_apps]})
            days += _rows(
                connection,
                "workflow_statistics",
                {**bounds, "tenant_id": tenant, "app_ids": [a["app_id"] for a in workflow_apps]},
            )
        except psycopg.Error as exc:
            raise target.error("cannot read Dify's statistics", exc) from None
    tokens: defaultdict[str, int] = defaultdict(int)
    prices: defaultdict[str, Decimal] = defaultdict(Decimal)
    for day in days:  # summed per day first, as the console's daily rows are
        tokens[day["app_id"]] += int(day["token_count"] or 0)
        prices[day["app_id"]] += day.get("total_price") or Decimal(0)
    return [
        DifyAppTotals(app["app_id"], app["app_name"], app["app_mode"], tokens[app["app_id"]], prices[app["app_id"]])
        for app in message_apps + workflow_apps
    ]


def dify_bound(instant: datetime, zone: ZoneInfo) -> datetime:
    """`instant` as the console client sends it (a local minute) and Dify resolves it back: naive UTC.

    Dify's `parse_time_range` localizes with pytz: an ambiguous minute (DST fold) is standard time, a minute
    in a DST gap moves one hour on.
    """
    local = instant.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
    return _localize(local, zone).astimezone(UTC).replace(tzinfo=None)


def _localize(naive: datetime, zone: ZoneInfo) -> datetime:
    first, second = (naive.replace(tzinfo=zone, fold=fold) for fold in (0, 1))
    if first.utcoffset() == second.utcoffset():
        return first
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:  # in the gap
        return _localize(naive + timedelta(hours=1), zone)
    return first if not first.dst() else second


def _rows(connection: psycopg.Connection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(query(name), params)
        return cursor.fetchall()
