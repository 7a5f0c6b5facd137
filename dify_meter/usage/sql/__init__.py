"""The query files of usage/, read by name."""

from __future__ import annotations

from pathlib import Path

SQL_DIR = Path(__file__).parent


def read_sql(name: str) -> str:
    """The text of `dify_meter/usage/sql/<name>`."""
    return (SQL_DIR / name).read_text(encoding="utf-8")
