"""A tiny reader for the `INSERT` and `UPDATE` statements of a psql seed file.

It understands exactly what the fixtures' seeds use: `INSERT INTO t (cols) VALUES (...)[, (...)];` over one
or more lines, `UPDATE t SET col = value[, ...] WHERE id = value;`, single-quoted strings with '' escapes,
NULL, true/false, numbers, and psql variables `:'name'` (filled from `variables`). Comment lines, `\\gset`
queries, BEGIN and COMMIT are skipped. Values stay strings (or None/bool); the loader converts each column
to its type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

SqlValue = str | bool | None

_INSERT = re.compile(r"INSERT INTO (\w+) \(([^)]*)\) VALUES\s*(.*)$", re.DOTALL)
_UPDATE = re.compile(r"UPDATE (\w+) SET (.*) WHERE id = (.*)$", re.DOTALL)
_VALUE = re.compile(r"\s*(?:'((?:[^']|'')*)'|:'(\w+)'|(NULL|true|false)|(-?[0-9][0-9.]*))\s*")
_ASSIGNMENT = re.compile(r"\s*(\w+) = ")
_KEYWORDS: dict[str, SqlValue] = {"NULL": None, "true": True, "false": False}
_SKIPPED = ("SELECT ", "BEGIN", "COMMIT")


@dataclass(frozen=True)
class Update:
    table: str
    row_id: SqlValue
    changes: dict[str, SqlValue]


def read_inserts(sql: str, variables: Mapping[str, str]) -> Iterator[tuple[str, dict[str, SqlValue]]]:
    """Yield (table, {column: value}) for every row an INSERT adds, in file order."""
    for line_number, statement in _statements(sql):
        if not statement.startswith("INSERT INTO"):
            continue
        match = _INSERT.match(statement)
        if not match:
            raise ValueError(f"seed line {line_number}: not an INSERT ... VALUES (...);")
        table, columns, rows_text = match.groups()
        names = [c.strip() for c in columns.split(",")]
        for values in _rows(rows_text, variables, line_number):
            if len(values) != len(names):
                raise ValueError(f"seed line {line_number}: {len(names)} columns but {len(values)} values")
            yield table, dict(zip(names, values, strict=True))


def read_updates(sql: str, variables: Mapping[str, str]) -> Iterator[Update]:
    """Yield every `UPDATE t SET ... WHERE id = ...` in file order."""
    for line_number, statement in _statements(sql):
        if not statement.startswith("UPDATE "):
            continue
        match = _UPDATE.match(statement)
        if not match:
            raise ValueError(f"seed line {line_number}: not an UPDATE t SET ... WHERE id = ...;")
        table, assignments, row_id = match.groups()
        changes: dict[str, SqlValue] = {}
        position = 0
        while position < len(assignments):
            column = _ASSIGNMENT.match(assignments, position)
            if not column:
                raise ValueError(f"seed line {line_number}: cannot read an assignment at {assignments[position:]!r}")
            value, position = _value(assignments, column.end(), variables, line_number)
            changes[column.group(1)] = value
            position = _after(assignments, position, ",", line_number, optional=True)
        key, end = _value(row_id, 0, variables, line_number)
        if row_id[end:].strip():
            raise ValueError(f"seed line {line_number}: only `WHERE id = value` is read, got {row_id!r}")
        yield Update(table, key, changes)


def _statements(sql: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each statement: split at `;` or `\\gset` outside quotes, comments dropped."""
    text, start_line, quoted, line_number = "", 1, False, 1
    for line in sql.splitlines():
        if not quoted and not text.strip() and line.lstrip().startswith("--"):
            line_number += 1
            continue
        if not text.strip():
            start_line = line_number
        for index, char in enumerate(line):
            if char == "'":
                quoted = not quoted
            if not quoted and (char == ";" or line.startswith("\\gset", index)):
                yield from _kept(start_line, text)
                text, start_line = "", line_number
                if char != ";":
                    break
                continue
            text += char
        text += "\n"
        line_number += 1
    yield from _kept(start_line, text)


def _kept(line_number: int, text: str) -> Iterator[tuple[int, str]]:
    statement = text.strip()
    if statement and not statement.startswith(_SKIPPED):
        yield line_number, statement


def _rows(text: str, variables: Mapping[str, str], line_number: int) -> Iterator[list[SqlValue]]:
    position = 0
    while True:
        position = _after(text, position, "(", line_number)
        values: list[SqlValue] = []
        while True:
            value, position = _value(text, position, variables, line_number)
            values.append(value)
            if text.startswith(")", position):
                position += 1
                break
            position = _after(text, position, ",", line_number)
        yield values
        rest = text[position:].strip()
        if not rest:
            return
        position = _after(text, position, ",", line_number)


def _after(text: str, position: int, token: str, line_number: int, *, optional: bool = False) -> int:
    """The position after `token` (whitespace around it skipped)."""
    stripped = len(text) - len(text[position:].lstrip())
    if text.startswith(token, stripped):
        return stripped + len(token)
    if optional and stripped == len(text):
        return stripped
    raise ValueError(f"seed line {line_number}: expected {token!r} at {text[stripped : stripped + 30]!r}")


def _value(text: str, position: int, variables: Mapping[str, str], line_number: int) -> tuple[SqlValue, int]:
    match = _VALUE.match(text, position)
    if not match or match.end() == position:
        raise ValueError(f"seed line {line_number}: cannot read a value at {text[position : position + 30]!r}")
    quoted, variable, keyword, number = match.groups()
    if quoted is not None:
        return quoted.replace("''", "'"), match.end()
    if variable is not None:
        if variable not in variables:
            raise ValueError(f"seed line {line_number}: psql variable :'{variable}' has no value")
        return variables[variable], match.end()
    if keyword is not None:
        return _KEYWORDS[keyword], match.end()
    return number, match.end()
