from __future__ import annotations

from collections.abc import Iterator

import pytest

from dify_meter_tests.support.demo_run import DemoRun, run_demo


@pytest.fixture(scope="package")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    yield from run_demo(tmp_path_factory.mktemp("demo"))
