"""Settings read once when the code location loads (partitions and schedules need them then).

A malformed value stops the load with a message naming the variable, shown by the Dagster UI and
the CLI alike.
"""

from dify_meter.settings import load_settings

SETTINGS = load_settings()
