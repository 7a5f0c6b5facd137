"""The simulators and the configured environment the CLI tests run against (`support.configured_cli`)."""

from dify_meter_tests.support.configured_cli import api_meter, configured, dify, workspace

__all__ = ["api_meter", "configured", "dify", "workspace"]  # fixtures, found by pytest under these names
