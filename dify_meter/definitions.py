"""The Dagster code location `dify_meter`: everything under defs/ is loaded."""

from pathlib import Path

import dagster as dg

from dify_meter import defs as defs_package


@dg.definitions
def defs() -> dg.Definitions:
    # What load_from_defs_folder builds, without its search for pyproject.toml, which a wheel install has not.
    return dg.ComponentTree.from_module(defs_module=defs_package, project_root=Path(__file__).parent).build_defs()
