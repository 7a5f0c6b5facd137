"""No Python repr reaches a log line or a metadata value of a demo-sized run."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration
# `0E-10` is str() of a zero DECIMAL(38,10): exact, but not how a person writes nothing.
REPR = re.compile(r"Decimal\(|datetime\.|UUID\(|\{'|\['|\('|<[A-Za-z_.]+ object at|defaultdict\(|Counter\(|\dE-\d")


def test_the_run_succeeds(demo_run):
    assert demo_run.result.success


def test_no_repr_in_logs_or_metadata(demo_run):
    texts = demo_run.texts()
    assert len(texts) > 50
    assert any(" USD" in text and "cost " in text for text in texts)  # the aggregates' cost line, readable
    offenders = [text for text in texts if REPR.search(text)]
    assert not offenders, offenders[:5]
