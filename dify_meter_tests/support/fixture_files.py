"""Where the recorded Dify exchanges are: vendored in dify_meter_tests/fixtures, one folder per version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VENDORED = Path(__file__).resolve().parents[1] / "fixtures"
BASELINE = "1.12.1"
FIXTURES_DIR = VENDORED / f"dify-{BASELINE}"
# The recorded workspace as rows. 1.16.1's seed is the older ones' with the one end-user type Dify never
# writes ('web-app') made 'browser' (E4 of its INDEX.md), so every simulated version accepts it.
SEED_FILE = VENDORED / "dify-1.16.1" / "fixture-seed.sql"


def fixtures_dir(version: str = BASELINE) -> Path:
    return VENDORED / f"dify-{version}"


def fixture_files(version: str = BASELINE) -> list[Path]:
    folder = fixtures_dir(version)
    if not folder.is_dir():
        raise FileNotFoundError(f"recorded Dify {version} fixtures not found at {folder}")
    return sorted(folder.glob("*.json"))


def load_fixture(name: str, version: str = BASELINE) -> dict[str, Any]:
    return json.loads((fixtures_dir(version) / name).read_text(encoding="utf-8"))
