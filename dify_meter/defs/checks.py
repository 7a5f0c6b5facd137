"""Turn plain CheckOutcomes (dify_meter.usage.checks) into Dagster asset check results."""

from typing import Any

import dagster as dg

from dify_meter.usage.checks import CheckOutcome

SEVERITY = {"ERROR": dg.AssetCheckSeverity.ERROR, "WARN": dg.AssetCheckSeverity.WARN}


def check_result(name: str, outcome: CheckOutcome) -> dg.AssetCheckResult:
    metadata: dict[str, Any] = {"result": outcome.summary, **outcome.facts}
    metadata.update({title: dg.MetadataValue.md(text) for title, text in outcome.tables.items()})
    return dg.AssetCheckResult(
        check_name=name, passed=outcome.passed, severity=SEVERITY[outcome.severity], metadata=metadata
    )
