"""The embedded PostgreSQL the database source's tests run against (`support.postgres`)."""

from dify_meter_tests.support.postgres import postgres

__all__ = ["postgres"]  # a fixture, found by pytest under this name
