"""Where the recorded Dify 1.12.1 exchanges are: the vendored copy in dify_meter_tests/fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "dify-1.12.1"
SEED_FILE = FIXTURES_DIR / "fixture-seed.sql"


def fixture_files() -> list[Path]:
    return sorted(FIXTURES_DIR.glob("*.json"))


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8"))
