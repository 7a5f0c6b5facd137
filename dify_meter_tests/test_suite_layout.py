"""The suite's shape: test modules share helpers through dify_meter_tests.support and conftests, never each other."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS_ROOT = Path(__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_test_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == TESTS_ROOT.name and any(p.startswith("test_") or p == "conftest" for p in parts[1:])


def test_no_test_module_or_conftest_is_imported_by_another_file():
    offenders = {
        f"{path.relative_to(TESTS_ROOT)} imports {name}"
        for path in TESTS_ROOT.rglob("*.py")
        for name in imported_modules(path)
        if is_test_module(name)
    }
    assert not offenders, sorted(offenders)


def test_the_check_sees_an_import_of_a_test_module(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from dify_meter_tests.usage.test_collect import day_window\nimport dify_meter_tests.support\n")
    assert {name for name in imported_modules(sample) if is_test_module(name)} == {
        "dify_meter_tests.usage.test_collect",
        "dify_meter_tests.usage.test_collect.day_window",
    }
