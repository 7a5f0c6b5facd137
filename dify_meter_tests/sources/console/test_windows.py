"""UTC windows spelled in Dify's query parameters: account-timezone minutes (DST-safe) and ISO UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dify_meter.sources.console.windows import Window, account_end, account_start, iso_utc_ceil, iso_utc_floor

NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "account_tz", "expected"),
    [
        (utc(2026, 11, 10), ZoneInfo("UTC"), "2026-11-10 00:00"),
        (utc(2026, 11, 10), NEW_YORK, "2026-11-09 19:00"),  # EST, UTC-5
        (utc(2026, 7, 10), NEW_YORK, "2026-07-09 20:00"),  # EDT, UTC-4
        (utc(2026, 11, 10), TOKYO, "2026-11-10 09:00"),
        # a Tokyo day (DIFY_TIMEZONE=Asia/Tokyo) read through a New York account
        (datetime(2026, 11, 10, tzinfo=TOKYO), NEW_YORK, "2026-11-09 10:00"),
        (utc(2026, 3, 8, 7), NEW_YORK, "2026-03-08 03:00"),  # first minute after the spring-forward gap
        (utc(2026, 11, 1, 4), NEW_YORK, "2026-11-01 00:00"),  # New York midnight on the fall-back day
        (utc(2026, 11, 10, 0, 0, 30), ZoneInfo("UTC"), "2026-11-10 00:00"),  # floored to the minute
    ],
)
def test_start_in_the_account_timezone(instant: datetime, account_tz: ZoneInfo, expected: str) -> None:
    assert account_start(instant, account_tz) == expected


def test_an_ambiguous_start_is_moved_back_so_neither_reading_starts_late() -> None:
    # Chicago midnight on 2026-11-01 is 05:00Z = 01:00 EDT; "01:00" also means 01:00 EST = 06:00Z,
    # which Dify (pytz, is_dst=False) would pick: an hour of usage would be lost.
    chicago_midnight = datetime(2026, 11, 1, tzinfo=ZoneInfo("America/Chicago"))
    start = account_start(chicago_midnight, NEW_YORK)
    assert start == "2026-11-01 00:00"
    naive = datetime.strptime(start, "%Y-%m-%d %H:%M")
    for fold in (0, 1):
        assert naive.replace(tzinfo=NEW_YORK, fold=fold) <= chicago_midnight


@pytest.mark.parametrize(
    ("instant", "account_tz", "expected"),
    [
        (utc(2026, 11, 11), ZoneInfo("UTC"), "2026-11-11 00:01"),
        (utc(2026, 11, 11), NEW_YORK, "2026-11-10 19:01"),
        (datetime(2026, 11, 2, tzinfo=NEW_YORK), NEW_YORK, "2026-11-02 00:01"),  # end of the 25-hour day
        (datetime(2026, 3, 9, tzinfo=NEW_YORK), NEW_YORK, "2026-03-09 00:01"),  # end of the 23-hour day
        (datetime(2026, 11, 11, tzinfo=TOKYO), TOKYO, "2026-11-11 00:01"),
        (utc(2026, 11, 11, 0, 0, 1), ZoneInfo("UTC"), "2026-11-11 00:02"),  # ceiled, then widened
    ],
)
def test_end_in_the_account_timezone_is_widened_by_a_minute(
    instant: datetime, account_tz: ZoneInfo, expected: str
) -> None:
    assert account_end(instant, account_tz) == expected


def test_an_ambiguous_end_is_moved_forward_so_neither_reading_ends_early() -> None:
    second_one_am = utc(2026, 11, 1, 6)  # 01:00 EST, the second 01:00 in New York that night
    end = account_end(second_one_am, NEW_YORK)
    naive = datetime.strptime(end, "%Y-%m-%d %H:%M")
    for fold in (0, 1):
        assert naive.replace(tzinfo=NEW_YORK, fold=fold) >= second_one_am + timedelta(minutes=1)
    assert end == "2026-11-01 02:01"


def test_app_log_bounds_are_iso_utc_and_never_narrower() -> None:
    assert iso_utc_floor(datetime(2026, 11, 10, tzinfo=TOKYO)) == "2026-11-09T15:00:00Z"
    assert iso_utc_floor(utc(2026, 11, 10, 0, 0, 0) + timedelta(microseconds=500)) == "2026-11-10T00:00:00Z"
    assert iso_utc_ceil(utc(2026, 11, 11, 1)) == "2026-11-11T01:00:00Z"
    assert iso_utc_ceil(utc(2026, 11, 11, 1) + timedelta(microseconds=1)) == "2026-11-11T01:00:01Z"


def test_a_window_is_aware_ordered_and_kept_in_utc() -> None:
    window = Window(datetime(2026, 11, 10, tzinfo=TOKYO), datetime(2026, 11, 11, tzinfo=TOKYO))
    assert window.start == utc(2026, 11, 9, 15) and window.start.tzinfo is UTC
    assert window.contains(window.start) and not window.contains(window.end)
    with pytest.raises(ValueError, match="window_start must be timezone-aware"):
        Window(datetime(2026, 11, 10), utc(2026, 11, 11))
    with pytest.raises(ValueError, match="must be before window_end"):
        Window(utc(2026, 11, 11), utc(2026, 11, 10))
