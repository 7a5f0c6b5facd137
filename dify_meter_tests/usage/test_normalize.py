"""Normalizer behaviour beyond the golden table: the known set, lookup order, purity."""

from __future__ import annotations

import pytest

from dify_meter.usage.normalize import MODEL_PATTERN, NormalizedModel, Normalizer

# The billing companies the issue names; each must be a normalized provider.
ISSUE_PROVIDERS = {
    "openai",
    "anthropic",
    "google",
    "aws",
    "xai",
    "azure",
    "mistral",
    "cohere",
    "deepseek",
    "meta",
    "alibaba",
    "zhipu",
    "moonshot",
    "ollama",
    "groq",
    "together",
    "fireworks",
    "perplexity",
    "huggingface",
    "nvidia",
    "volcengine",
    "baichuan",
    "minimax",
    "siliconflow",
    "replicate",
    "openai_api_compatible",
    "openrouter",
}


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer.load()


def test_the_issues_billing_providers_are_known(normalizer: Normalizer) -> None:
    assert normalizer.known_providers >= ISSUE_PROVIDERS
    assert "unknown" not in normalizer.known_providers


def test_is_known_provider_is_about_normalized_names(normalizer: Normalizer) -> None:
    assert normalizer.is_known_provider("aws")
    assert not normalizer.is_known_provider("bedrock")  # a raw id, not a billing provider
    assert not normalizer.is_known_provider("unknown")
    assert not normalizer.is_known_provider("AWS")


@pytest.mark.parametrize(
    ("legacy", "provider"),
    [("aws-bedrock", "aws"), ("claude", "anthropic"), ("gemini", "google"), ("grok", "xai")],
)
def test_legacy_exporter_names_keep_working(normalizer: Normalizer, legacy: str, provider: str) -> None:
    assert normalizer.normalize(legacy, "m").provider == provider


def test_every_known_provider_normalizes_to_itself(normalizer: Normalizer) -> None:
    for provider in normalizer.known_providers:
        assert normalizer.normalize(provider, "m").provider == provider
        assert normalizer.normalize(f"langgenius/{provider}/{provider}", "m").provider == provider


def test_community_plugin_is_found_by_its_plugin_segment_when_the_provider_segment_is_unknown(
    normalizer: Normalizer,
) -> None:
    assert normalizer.normalize("acme/deepseek/ds_gateway", "deepseek-chat").provider == "deepseek"
    assert normalizer.normalize("acme/gateway/gateway", "deepseek-chat").provider == "unknown"


@pytest.mark.parametrize(
    "provider_raw",
    [
        "openai/openai",
        "a/b/c/openai",
        "langgenius//openai",
        "/openai",
        "openai;",
        "openai\x00",
        "ｏｐｅｎａｉ",
    ],
)
def test_malformed_provider_ids_are_unknown(normalizer: Normalizer, provider_raw: str) -> None:
    assert normalizer.normalize(provider_raw, "gpt-4o") == NormalizedModel("unknown", "gpt-4o", None)


def test_non_string_input_is_unknown_not_an_error(normalizer: Normalizer) -> None:
    result = normalizer.normalize(42, 7.5)  # type: ignore[arg-type]
    assert result == NormalizedModel("unknown", "unknown", None)


def test_trailing_newline_cannot_sneak_past_the_pattern(normalizer: Normalizer) -> None:
    assert MODEL_PATTERN.match("gpt-4o\n")  # why the code uses fullmatch
    assert normalizer.normalize("openai\n", "gpt-4o\n") == NormalizedModel("openai", "gpt-4o", None)
    assert normalizer.normalize("openai", "gpt-4o\nx").model == "gpt-4o-x"


def test_bedrock_rules_apply_to_aws_only(normalizer: Normalizer) -> None:
    assert normalizer.normalize("openai_api_compatible", "anthropic.claude-3-haiku-20240307-v1:0") == (
        NormalizedModel("openai_api_compatible", "anthropic.claude-3-haiku-20240307-v1:0", None)
    )
    assert normalizer.normalize("bedrock", "us.unknownvendor.model-v1:0") == (
        NormalizedModel("aws", "us.unknownvendor.model-v1:0", None)
    )


def test_publisher_split_is_for_publisher_prefixed_providers_only(normalizer: Normalizer) -> None:
    assert normalizer.normalize("openrouter", "anthropic/claude-3.5-sonnet").publisher == "anthropic"
    assert normalizer.normalize("volcengine_maas", "doubao-pro-32k/character-240828") == NormalizedModel(
        "volcengine", "doubao-pro-32k-character-240828", None
    )


def test_normalize_is_deterministic_across_instances() -> None:
    first, second = Normalizer.load(), Normalizer.load()
    pairs = [("langgenius/bedrock/bedrock", "us.amazon.nova-pro-v1:0"), ("x", "grok-2"), (None, None)]
    assert [first.normalize(*p) for p in pairs] == [second.normalize(*p) for p in pairs]
    assert [first.normalize(*p) for p in pairs] == [first.normalize(*p) for p in pairs]


def test_result_is_frozen(normalizer: Normalizer) -> None:
    result = normalizer.normalize("openai", "gpt-4o")
    with pytest.raises(AttributeError):
        result.model = "gpt-4"  # type: ignore[misc]
