"""Golden table: real provider/model spellings -> the key API_Meter receives.

Rows come from the recorded Dify 1.12.1 fixtures, the console API spec and common real ids; each
row's `source` column says which. `<none>` in a raw column stands for a missing value (None).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from dify_meter.usage.normalize import MODEL_PATTERN, NormalizedModel, Normalizer

GOLDEN = Path(__file__).with_name("golden_normalization.csv")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dify-1.12.1"
NONE = "<none>"


def _raw(value: str) -> str | None:
    return None if value == NONE else value


def _golden_rows() -> list[dict[str, str]]:
    with GOLDEN.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


ROWS = _golden_rows()


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer.load()


def test_golden_table_is_large_enough() -> None:
    assert len(ROWS) >= 60


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['provider_raw']!r}|{r['model_raw']!r}" for r in ROWS])
def test_golden_row(normalizer: Normalizer, row: dict[str, str]) -> None:
    expected = NormalizedModel(row["provider"], row["model"], row["publisher"] or None)
    assert normalizer.normalize(_raw(row["provider_raw"]), _raw(row["model_raw"])) == expected


def test_every_golden_model_matches_the_pattern(normalizer: Normalizer) -> None:
    for row in ROWS:
        result = normalizer.normalize(_raw(row["provider_raw"]), _raw(row["model_raw"]))
        assert MODEL_PATTERN.fullmatch(result.model), row
        assert result.provider == "unknown" or normalizer.is_known_provider(result.provider), row


def test_normalizing_a_normalized_key_changes_nothing(normalizer: Normalizer) -> None:
    for row in ROWS:
        first = normalizer.normalize(_raw(row["provider_raw"]), _raw(row["model_raw"]))
        again = normalizer.normalize(first.provider, first.model)
        assert (again.provider, again.model) == (first.provider, first.model), row


@pytest.mark.parametrize(
    ("zero_x", "one_x", "model"),
    [
        ("openai", "langgenius/openai/openai", "gpt-4o"),
        ("bedrock", "langgenius/bedrock/bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
        ("google", "langgenius/gemini/google", "gemini-1.5-pro-002"),
        ("x", "langgenius/x/x", "grok-2"),
        ("anthropic", "langgenius/anthropic/anthropic", "claude-3-5-haiku-20241022"),
        ("tongyi", "langgenius/tongyi/tongyi", "qwen-max"),
    ],
)
def test_both_dify_id_forms_give_one_key(normalizer: Normalizer, zero_x: str, one_x: str, model: str) -> None:
    assert normalizer.normalize(zero_x, model) == normalizer.normalize(one_x, model)


def test_bedrock_id_with_and_without_region_and_revision_give_one_model(normalizer: Normalizer) -> None:
    spellings = [
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        "eu.anthropic.claude-3-5-sonnet-20241022-v2:0",
        "anthropic.claude-3-5-sonnet-20241022",
    ]
    results = {normalizer.normalize("langgenius/bedrock/bedrock", spelling) for spelling in spellings}
    assert results == {NormalizedModel("aws", "claude-3-5-sonnet-20241022", "anthropic")}


def _fixture_pairs() -> set[tuple[str, str]]:
    """Every (provider, model) pair in the recorded responses and the seed."""
    pairs: set[tuple[str, str]] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("model_provider"), str):
                pairs.add((node["model_provider"], node.get("model_name") or ""))
            if isinstance(node.get("provider"), str) and isinstance(node.get("name"), str):
                pairs.add((node["provider"], node["name"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in FIXTURES.glob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    seed = (FIXTURES / "fixture-seed.sql").read_text(encoding="utf-8")
    for key_pair in (("model_provider", "model_name"), ("provider", "name")):
        pattern = r'"{}"\s*:\s*"([^"]+)"\s*,\s*"{}"\s*:\s*"([^"]+)"'.format(*key_pair)
        pairs.update(re.findall(pattern, seed))
    return pairs


def test_golden_table_covers_every_fixture_pair() -> None:
    fixture_pairs = _fixture_pairs()
    golden_pairs = {(row["provider_raw"], row["model_raw"]) for row in ROWS}
    assert len(fixture_pairs) >= 9  # the recordings name at least nine distinct pairs
    assert fixture_pairs <= golden_pairs, fixture_pairs - golden_pairs


SPEC = Path(__file__).resolve().parents[2] / "docs" / "dify-console-api.md"


def test_every_provider_id_of_the_spec_is_golden_and_known(normalizer: Normalizer) -> None:
    spec_ids = set(re.findall(r"`(langgenius/[a-z_]+/[a-z_]+)`", SPEC.read_text(encoding="utf-8")))
    golden_providers = {row["provider_raw"] for row in ROWS}
    assert len(spec_ids) >= 16
    assert spec_ids <= golden_providers, spec_ids - golden_providers
    assert all(normalizer.normalize(spec_id, "m").provider != "unknown" for spec_id in spec_ids)
