"""Delivering per-model daily usage to API_Meter: records, sender, ledger, spool (no Dagster)."""
