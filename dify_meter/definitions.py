"""The Dagster code location `dify_meter`: the settings are read here, once, and everything is built from them."""

import dagster as dg

from dify_meter.defs.code_location import build_definitions
from dify_meter.settings import load_settings


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings(export_env_file=True))
