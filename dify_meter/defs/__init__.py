"""Dagster definitions only, kept thin: each asset calls into dify/, usage/ and api_meter/."""
