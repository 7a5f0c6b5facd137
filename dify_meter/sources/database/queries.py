"""The SQL of the database source (files under sql/), loaded once."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def query(name: str) -> str:
    text = files("dify_meter.sources.database").joinpath("sql", f"{name}.sql").read_text()
    if name in ("advanced_chat_nodes", "workflow_nodes"):
        text = text.format(node_columns=query("node_columns").strip(), node_usage=query("node_usage"))
    return text
