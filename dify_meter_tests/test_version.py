import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import dify_meter
from dify_meter.api_meter.records import build_request

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_the_same_in_pyproject_package_changelog_and_export_metadata():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert dify_meter.__version__ == version
    assert f"## [{version}]" in (ROOT / "CHANGELOG.md").read_text()
    body = json.loads(
        build_request(
            [],
            tenant_id="12345678-1234-1234-1234-123456789abc",
            exporter_version=dify_meter.__version__,
            export_timestamp=datetime(2026, 11, 28, tzinfo=UTC),
            date_range=(datetime(2026, 11, 27, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC)),
        )
    )
    assert body["export_metadata"]["exporter_version"] == version
