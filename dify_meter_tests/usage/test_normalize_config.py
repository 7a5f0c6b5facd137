"""The user file (DIFY_METER_NORMALIZATION_FILE) changes the mapping without code changes,
and a malformed one stops with an error naming the file, the key and what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from dify_meter.usage.normalize import NormalizationConfigError, NormalizedModel, Normalizer


def _user_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my-normalization.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_azure_deployment_maps_to_its_real_model(tmp_path: Path) -> None:
    azure = "langgenius/azure_openai/azure_openai"
    assert Normalizer.load().normalize(azure, "my-gpt4o-prod").model == "my-gpt4o-prod"
    user = Normalizer.load(_user_file(tmp_path, '[azure.deployments]\n"My-GPT4o-Prod" = "gpt-4o"\n'))
    assert user.normalize(azure, "my-gpt4o-prod") == NormalizedModel("azure", "gpt-4o", None)
    assert user.normalize("azure_openai", "MY GPT4o PROD") == NormalizedModel("azure", "gpt-4o", None)
    # a deployment name means something only on Azure
    assert user.normalize("openai", "my-gpt4o-prod").model == "my-gpt4o-prod"


def test_new_provider_alias_and_new_known_provider(tmp_path: Path) -> None:
    text = (
        'known_providers = ["acme_llm"]\n'
        "[provider_aliases]\n"
        '"acme/gpt-gateway/gpt-gateway" = "openai"\n'
        'acme_llm_plugin = "acme_llm"\n'
    )
    shipped, user = Normalizer.load(), Normalizer.load(str(_user_file(tmp_path, text)))
    assert shipped.normalize("acme/gpt_gateway/gpt_gateway", "gpt-4o").provider == "unknown"
    assert user.normalize("acme/gpt_gateway/gpt_gateway", "gpt-4o").provider == "openai"
    assert user.normalize("someone/acme_llm_plugin/acme_llm_plugin", "a-1").provider == "acme_llm"
    assert user.is_known_provider("acme_llm") and not shipped.is_known_provider("acme_llm")
    # the shipped mapping is still there underneath
    assert user.normalize("langgenius/bedrock/bedrock", "amazon.nova-pro-v1:0").provider == "aws"


def test_full_id_alias_beats_the_provider_segment(tmp_path: Path) -> None:
    user = Normalizer.load(_user_file(tmp_path, '[provider_aliases]\n"acme/openai/openai" = "azure"\n'))
    assert user.normalize("acme/openai/openai", "gpt-4o").provider == "azure"
    assert user.normalize("langgenius/openai/openai", "gpt-4o").provider == "openai"


def test_user_entries_replace_shipped_ones_and_lists_are_added(tmp_path: Path) -> None:
    text = (
        '[provider_aliases]\nopenai_api_compatible = "deepseek"\n'
        '[model_aliases]\n"gpt-4o-prod-eu" = "gpt-4o"\n'
        '[bedrock]\npublishers = ["moonshot"]\n'
    )
    user = Normalizer.load(_user_file(tmp_path, text))
    assert user.normalize("langgenius/openai_api_compatible/openai_api_compatible", "deepseek-chat").provider == (
        "deepseek"
    )
    assert user.normalize("openai", "GPT-4o-prod-EU").model == "gpt-4o"
    assert user.normalize("bedrock", "moonshot.kimi-k2-thinking-v1:0") == NormalizedModel(
        "aws", "kimi-k2-thinking", "moonshot"
    )
    assert user.normalize("bedrock", "us.anthropic.claude-3-haiku-20240307-v1:0").model == "claude-3-haiku-20240307"


def test_an_empty_user_file_changes_nothing(tmp_path: Path) -> None:
    shipped, user = Normalizer.load(), Normalizer.load(_user_file(tmp_path, "# nothing yet\n"))
    assert user.known_providers == shipped.known_providers
    assert user.normalize("bedrock", "anthropic claude") == shipped.normalize("bedrock", "anthropic claude")


MALFORMED = [
    pytest.param('[provider_aliases\nacme = "openai"\n', ["not valid TOML", "line 1"], id="bad-toml"),
    pytest.param(
        '[providers]\nacme = "openai"\n',
        ["providers: unknown section", "provider_aliases"],
        id="unknown-section",
    ),
    pytest.param(
        '[bedrock]\nregions = ["us"]\n', ["bedrock.regions: unknown key", "region_prefixes"], id="unknown-key"
    ),
    pytest.param('known_providers = "acme"\n', ["known_providers: expected a list"], id="list-is-a-string"),
    pytest.param('provider_aliases = "openai"\n', ["provider_aliases: expected a table"], id="table-is-a-string"),
    pytest.param(
        "[provider_aliases]\nacme = 3\n",
        ["provider_aliases.'acme': expected a string, got int"],
        id="alias-is-a-number",
    ),
    pytest.param(
        '[provider_aliases]\n"acme/gw/gw" = "anthropc"\n',
        [
            "provider_aliases.'acme/gw/gw'",
            "'anthropc' is not a known provider",
            "anthropic",
            "add it to known_providers",
        ],
        id="unknown-target-provider",
    ),
    pytest.param(
        '[provider_aliases]\n"acme/gw" = "openai"\n',
        ["provider_aliases.'acme/gw'", "org/plugin/provider"],
        id="alias-not-a-dify-id",
    ),
    pytest.param(
        'known_providers = ["Acme LLM"]\n',
        ["known_providers", "'Acme LLM'", "acme_llm"],
        id="bad-provider-name",
    ),
    pytest.param('known_providers = ["unknown"]\n', ["known_providers", "reserved"], id="unknown-is-reserved"),
    pytest.param(
        'publisher_prefixed_providers = ["acme"]\n',
        ["publisher_prefixed_providers", "'acme' not a known provider"],
        id="prefixed-not-known",
    ),
    pytest.param(
        '[model_aliases]\n"gpt4" = "GPT 4"\n',
        ["model_aliases.'gpt4'", "must match ^[a-z0-9][a-z0-9._:+-]*$", "e.g. 'gpt-4'"],
        id="model-alias-breaks-pattern",
    ),
    pytest.param(
        '[azure.deployments]\n"prod" = "gpt-4o!"\n',
        ["azure.deployments.'prod'", "must match"],
        id="deployment-target-breaks-pattern",
    ),
    pytest.param(
        "[azure]\ndeployment = {}\n", ["azure.deployment: unknown key", "deployments"], id="azure-unknown-key"
    ),
    pytest.param(
        '[model_aliases]\n"豆包" = "doubao"\n',
        ["model_aliases.'豆包'", "cannot match"],
        id="alias-name-unusable",
    ),
    pytest.param(
        '[model_aliases]\n"My-Model" = "a"\n"my model" = "b"\n',
        ["model_aliases.'my model'", "'my-model'", "different target"],
        id="names-collide",
    ),
    pytest.param("[ollama]\ndrop_tags = [1]\n", ["ollama.drop_tags", "1 is not"], id="tag-not-a-string"),
]


@pytest.mark.parametrize(("text", "expected"), MALFORMED)
def test_malformed_user_file_names_file_and_key(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = _user_file(tmp_path, text)
    with pytest.raises(NormalizationConfigError) as raised:
        Normalizer.load(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message


def test_missing_user_file_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(NormalizationConfigError, match="DIFY_METER_NORMALIZATION_FILE") as raised:
        Normalizer.load(path)
    assert str(path) in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_non_utf8_user_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[model_aliases]\n"caf\xe9" = "cafe"\n'.encode("latin-1"))
    with pytest.raises(NormalizationConfigError, match="UTF-8"):
        Normalizer.load(path)
