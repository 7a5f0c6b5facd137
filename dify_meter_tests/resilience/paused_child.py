"""`python -m dify_meter_tests.resilience.paused_child MARKER ARG...` runs `dify-meter ARG...`, except that the
per-model aggregate stops inside its transaction (the window's rows deleted, the new ones not inserted yet),
creates the file MARKER and waits there for the test to kill it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dify_meter.cli.main import main
from dify_meter.usage import aggregates

PAUSE_SECONDS = 300  # the test kills this process long before; the test's own waits are bounded


def pause_inside_the_per_model_transaction(marker: Path) -> None:
    read_sql = aggregates.read_sql

    def pausing(name: str) -> str:
        if name == "aggregate_per_model.sql":  # read right after the DELETE of the window, before the INSERT
            marker.touch()
            time.sleep(PAUSE_SECONDS)
        return read_sql(name)

    aggregates.read_sql = pausing


if __name__ == "__main__":
    pause_inside_the_per_model_transaction(Path(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
