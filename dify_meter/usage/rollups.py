"""Weekly and monthly roll-ups of the daily aggregates (DIFY_AGGREGATION_PERIOD), for local reports;
API_Meter always receives daily records. The views themselves are created by the store's migrations
(dify_meter/core/migrations/0001_baseline.sql)."""

from __future__ import annotations

PERIOD_UNITS = {"weekly": "week", "monthly": "month"}
