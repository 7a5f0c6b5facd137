"""Dify's own totals of a window (statistics/token-costs), to compare the extraction against.

Dify counts messages-based apps from its messages table: it excludes debugger traffic, prices
messages that carry no usage metadata from its database, and labels every currency USD. The sum of
its daily buckets over a window given in the account timezone is the window's total, whatever
DIFY_TIMEZONE is.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from dify_meter.core.app_modes import MESSAGE_STATISTICS_MODES, NO_MESSAGE_STATISTICS_MODES
from dify_meter.core.source import DifyAppTotals
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.errors import DifyNotFoundError
from dify_meter.sources.console.listing import apps as list_apps
from dify_meter.sources.console.models import App
from dify_meter.sources.console.windows import DIFY_MINUTE_FORMAT, Window


def fetch_dify_totals(client: DifyClient, window_start: datetime, window_end: datetime) -> list[DifyAppTotals]:
    window = Window(window_start, window_end)
    account_tz = ZoneInfo(client.account_profile().timezone)
    start = window.start.astimezone(account_tz).strftime(DIFY_MINUTE_FORMAT)
    end = window.end.astimezone(account_tz).strftime(DIFY_MINUTE_FORMAT)

    def app_totals(app: App) -> DifyAppTotals | None:
        try:
            days = client.token_costs(app, start=start, end=end).data
        except DifyNotFoundError as exc:
            if exc.app_gone or app.mode not in MESSAGE_STATISTICS_MODES:  # a mode Dify may not serve statistics for
                return None
            raise
        return DifyAppTotals(
            app.id,
            app.name,
            app.mode,
            sum(day.token_count for day in days),
            sum((day.total_price for day in days), Decimal(0)),
        )

    apps = [app for app in list_apps(client) if app.mode not in NO_MESSAGE_STATISTICS_MODES]
    # One request per app: in parallel, within the client's own bound on requests in flight.
    with ThreadPoolExecutor(max_workers=client.max_concurrency) as pool:
        return [totals for totals in pool.map(app_totals, apps) if totals is not None]
