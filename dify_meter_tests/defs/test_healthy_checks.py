"""On the healthy demo every check passes: a check that warns on a healthy day teaches people to ignore it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_every_check_passes_on_the_healthy_demo(demo_run):
    evaluations = demo_run.result.get_asset_check_evaluations()
    assert len(evaluations) == 3 + 6 + 3 * 3  # raw, usage_per_model, the three other aggregates
    failing = {
        f"{e.asset_key.to_user_string()}/{e.check_name}": e.metadata["result"].value
        for e in evaluations
        if not e.passed
    }
    assert not failing, failing
