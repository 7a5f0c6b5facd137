"""A UTC time window, and its spelling in the query parameters of Dify's endpoints.

Conversation and statistics endpoints take `YYYY-MM-DD HH:MM` in the calling account's timezone and
resolve it themselves (pytz, standard time on ambiguous or missing local times). The bounds produced
here are chosen so that *either* resolution of a DST-ambiguous local time still covers the window:
the exporter widens and filters exact times itself, it never relies on Dify's rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DIFY_MINUTE_FORMAT = "%Y-%m-%d %H:%M"
_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name, value in (("window_start", self.start), ("window_end", self.end)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
        if self.start >= self.end:
            raise ValueError(
                f"window_start ({self.start.isoformat()}) must be before window_end ({self.end.isoformat()})"
            )
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def _readings(local: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Both UTC instants a naive local time can mean (equal unless it falls in a DST change)."""
    first, second = (local.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1))
    return first, second


def account_start(instant: datetime, account_tz: ZoneInfo) -> str:
    """A `start` that Dify reads as no later than `instant`, however it resolves DST."""
    local = instant.astimezone(account_tz).replace(second=0, microsecond=0, tzinfo=None)
    while max(_readings(local, account_tz)) > instant:
        local -= _HOUR
    return local.strftime(DIFY_MINUTE_FORMAT)


def account_end(instant: datetime, account_tz: ZoneInfo) -> str:
    """An `end` at least one minute past `instant` (completion lists stop before second :59 of `end`)."""
    local = instant.astimezone(account_tz).replace(tzinfo=None)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + _MINUTE
    local += _MINUTE
    while min(_readings(local, account_tz)) < instant + _MINUTE:
        local += _HOUR
    return local.strftime(DIFY_MINUTE_FORMAT)


def iso_utc_floor(instant: datetime) -> str:
    """`created_at__after` of workflow app logs (inclusive, compared in UTC)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc_ceil(instant: datetime) -> str:
    """`created_at__before` of workflow app logs (inclusive, compared in UTC)."""
    utc = instant.astimezone(UTC)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
