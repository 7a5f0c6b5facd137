"""A tiny reader for the `INSERT INTO t (cols) VALUES (...);` lines of a psql seed file.

It understands exactly what `fixture-seed.sql` uses: single-quoted strings with '' escapes,
NULL, true/false, numbers, and psql variables `:'name'` (filled from `variables`).
Values stay strings (or None/bool); the loader converts each column to its type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

SqlValue = str | bool | None

_INSERT = re.compile(r"INSERT INTO (\w+) \(([^)]*)\) VALUES \((.*)\);\s*$")
_TOKEN = re.compile(r"\s*(?:'((?:[^']|'')*)'|:'(\w+)'|(NULL|true|false)|(-?[0-9][0-9.]*))\s*(?:,|$)")
_KEYWORDS: dict[str, SqlValue] = {"NULL": None, "true": True, "false": False}


def read_inserts(sql: str, variables: Mapping[str, str]) -> Iterator[tuple[str, dict[str, SqlValue]]]:
    """Yield (table, {column: value}) for every INSERT line, in file order."""
    for line_number, line in enumerate(sql.splitlines(), start=1):
        if not line.startswith("INSERT INTO"):
            continue
        match = _INSERT.match(line)
        if not match:
            raise ValueError(f"seed line {line_number}: not a one-line INSERT ... VALUES (...);")
        table, columns, values_text = match.groups()
        names = [c.strip() for c in columns.split(",")]
        values = list(_values(values_text, variables, line_number))
        if len(values) != len(names):
            raise ValueError(f"seed line {line_number}: {len(names)} columns but {len(values)} values")
        yield table, dict(zip(names, values, strict=True))


def _values(text: str, variables: Mapping[str, str], line_number: int) -> Iterator[SqlValue]:
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"seed line {line_number}: cannot read a value at {text[position : position + 30]!r}")
        quoted, variable, keyword, number = match.groups()
        if quoted is not None:
            yield quoted.replace("''", "'")
        elif variable is not None:
            if variable not in variables:
                raise ValueError(f"seed line {line_number}: psql variable :'{variable}' has no value")
            yield variables[variable]
        elif keyword is not None:
            yield _KEYWORDS[keyword]
        else:
            yield number
        position = match.end()
