"""Where the recorded Dify 1.12.1 exchanges are: shared/fixtures beside the repository (as in CI)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = Path(
    os.environ.get("DIFY_FIXTURES_DIR", REPO_ROOT.parent / "shared" / "fixtures" / "dify-1.12.1")
)


def fixture_files() -> list[Path]:
    if not FIXTURES_DIR.is_dir():
        raise FileNotFoundError(
            f"recorded Dify fixtures not found at {FIXTURES_DIR}: put shared/ beside the repository "
            "or set DIFY_FIXTURES_DIR"
        )
    return sorted(FIXTURES_DIR.glob("*.json"))


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8"))
