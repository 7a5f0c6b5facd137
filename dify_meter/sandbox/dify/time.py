"""Time conversions the way Dify's console API does them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

CONSOLE_MINUTE_FORMAT = "%Y-%m-%d %H:%M"


def unix(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def localize(naive: datetime, tz_name: str) -> datetime:
    """A naive local time in `tz_name` as aware UTC, the way Dify's `parse_time_range` does it with pytz.

    An ambiguous time (DST fold) is taken as standard time; a time in a DST gap moves one hour on.
    """
    tz = ZoneInfo(tz_name)
    first, second = (naive.replace(tzinfo=tz, fold=fold) for fold in (0, 1))
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        return localize(naive + timedelta(hours=1), tz_name)
    standard = first if not first.dst() else second
    return standard.astimezone(UTC)


def local_date(moment: datetime, tz_name: str) -> date:
    return moment.astimezone(ZoneInfo(tz_name)).date()


def parse_console_minute(value: str) -> datetime:
    """`YYYY-MM-DD HH:MM` (naive); raises ValueError with Python's own message, as Dify reports it."""
    return datetime.strptime(value, CONSOLE_MINUTE_FORMAT)
