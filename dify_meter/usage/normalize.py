"""Provider/model normalization: every raw Dify spelling -> one (billing provider, model) key.

API_Meter keeps one value per (tenant, provider, model, day), so two raw ids that mean the same
billing provider and model must normalize identically, and nothing may be invented. The mapping
is data: `providers.toml` next to this module (its comments are the user documentation of the
rules and of the schema), extended by the user file named by DIFY_METER_NORMALIZATION_FILE.
The caller passes that setting to `Normalizer.load`; this module reads no environment.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

# Use `.fullmatch()`: with `.match()` the `$` would also accept a trailing newline.
MODEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._:+-]*$")
UNKNOWN = "unknown"

_PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")
_PROVIDER_ID = re.compile(r"[a-z0-9][a-z0-9_.]*(/[a-z0-9][a-z0-9_.]*)*")
_BEDROCK_TOKEN = re.compile(r"[a-z0-9][a-z0-9-]*")
_BEDROCK_REVISION = re.compile(r"(-v\d+(:\d+)?|-\d+:\d+)$")
_WHITESPACE = re.compile(r"\s+")
_PROVIDER_SEPARATORS = re.compile(r"[\s-]+")
_SHIPPED_NAME = "providers.toml"


class NormalizationConfigError(ValueError):
    """A mapping file is unusable; the message names the file, the key and what to fix."""


@dataclass(frozen=True)
class NormalizedModel:
    provider: str  # billing provider, in known_providers or "unknown"
    model: str  # normalized model, matches MODEL_PATTERN
    publisher: str | None  # the model's publisher when the raw id names it (routers, Bedrock)


@dataclass
class _Mapping:
    """One file's content after type checks; `merge` layers a user file over the shipped one."""

    known_providers: set[str] = field(default_factory=set)
    publisher_prefixed: set[str] = field(default_factory=set)
    provider_aliases: dict[str, str] = field(default_factory=dict)
    publisher_aliases: dict[str, str] = field(default_factory=dict)
    model_aliases: dict[str, str] = field(default_factory=dict)
    azure_deployments: dict[str, str] = field(default_factory=dict)
    bedrock_regions: set[str] = field(default_factory=set)
    bedrock_publishers: set[str] = field(default_factory=set)
    bedrock_keep_version: set[str] = field(default_factory=set)
    ollama_drop_tags: set[str] = field(default_factory=set)
    free_models: set[str] = field(default_factory=set)  # "provider/model", normalized: cost 0 is their price

    def merge(self, other: _Mapping) -> _Mapping:
        merged = _Mapping()
        for name, mine in vars(self).items():
            theirs = getattr(other, name)
            setattr(merged, name, mine | theirs)  # sets: union; dicts: theirs replace mine
        return merged


def _spell_model(text: str) -> str:
    return _WHITESPACE.sub("-", text.strip().lower())


def _finish_model(text: str) -> str:
    return text.replace("@", "-").replace("/", "-")


def _provider_key(text: str) -> str:
    return _PROVIDER_SEPARATORS.sub("_", text.strip().lower())


class _FileReader:
    """Reads and type-checks one mapping file; every error names the file and the key."""

    def __init__(self, path: str, document: dict[str, Any]) -> None:
        self.path = path
        self.document = document

    def fail(self, key: str, problem: str) -> NormalizationConfigError:
        return NormalizationConfigError(f"{self.path}: {key}: {problem}")

    def read(self) -> _Mapping:
        sections: dict[str, Callable[[_Mapping, Any], None]] = {
            "known_providers": self._known_providers,
            "publisher_prefixed_providers": self._publisher_prefixed,
            "provider_aliases": self._provider_aliases,
            "publisher_aliases": self._publisher_aliases,
            "model_aliases": self._model_aliases,
            "azure": self._azure,
            "bedrock": self._bedrock,
            "ollama": self._ollama,
            "free_models": self._free_models,
        }
        mapping = _Mapping()
        for key, value in self.document.items():
            if key not in sections:
                raise self.fail(key, f"unknown section; expected one of {', '.join(sections)}")
            sections[key](mapping, value)
        return mapping

    def _strings(self, key: str, value: Any, pattern: re.Pattern[str], form: str) -> set[str]:
        if not isinstance(value, list):
            raise self.fail(key, f'expected a list of strings such as ["a", "b"], got {type(value).__name__}')
        result: set[str] = set()
        for item in value:
            if not isinstance(item, str) or not pattern.fullmatch(item):
                raise self.fail(key, f"{item!r} is not {form}")
            result.add(item)
        return result

    def _table(self, key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f'expected a table ([{key}] with "name" = "value" lines), got {type(value).__name__}')
        return value

    def _pairs(self, key: str, value: Any) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for name, target in self._table(key, value).items():
            if not isinstance(target, str):
                raise self.fail(f"{key}.{name!r}", f"expected a string, got {type(target).__name__} {target!r}")
            pairs.append((name, target))
        return pairs

    def _model_table(self, key: str, value: Any) -> dict[str, str]:
        table: dict[str, str] = {}
        for name, target in self._pairs(key, value):
            where = f"{key}.{name!r}"
            source = _finish_model(_spell_model(name))
            if not MODEL_PATTERN.fullmatch(source):
                raise self.fail(
                    where,
                    "the name cannot match any normalized model: use letters, digits and . _ : + - (spaces count as -)",
                )
            if not MODEL_PATTERN.fullmatch(target):
                suggestion = _finish_model(_spell_model(target))
                hint = f", e.g. {suggestion!r}" if MODEL_PATTERN.fullmatch(suggestion) else ""
                raise self.fail(
                    where,
                    f"target {target!r} must match {MODEL_PATTERN.pattern} "
                    f"(lowercase letters, digits and . _ : + -){hint}",
                )
            if table.get(source, target) != target:
                raise self.fail(
                    where,
                    f"same name as another entry after normalization ({source!r}) but a different target; keep one",
                )
            table[source] = target
        return table

    def _known_providers(self, mapping: _Mapping, value: Any) -> None:
        names = self._strings(
            "known_providers",
            value,
            _PROVIDER_NAME,
            'a provider name (lowercase letters, digits and _ only, e.g. "acme_llm")',
        )
        if UNKNOWN in names:
            raise self.fail("known_providers", f"{UNKNOWN!r} is reserved for ids that match no provider")
        mapping.known_providers = names

    def _publisher_prefixed(self, mapping: _Mapping, value: Any) -> None:
        mapping.publisher_prefixed = self._strings(
            "publisher_prefixed_providers",
            value,
            _PROVIDER_NAME,
            "a provider name (lowercase letters, digits and _ only)",
        )

    def _provider_aliases(self, mapping: _Mapping, value: Any) -> None:
        for name, target in self._pairs("provider_aliases", value):
            alias = _provider_key(name)
            if not _PROVIDER_ID.fullmatch(alias) or alias.count("/") not in (0, 2):
                raise self.fail(
                    f"provider_aliases.{name!r}",
                    'expected a Dify provider id: "provider" or "org/plugin/provider" of letters, digits, _ - and .',
                )
            mapping.provider_aliases[alias] = target

    def _publisher_aliases(self, mapping: _Mapping, value: Any) -> None:
        mapping.publisher_aliases = self._model_table("publisher_aliases", value)

    def _model_aliases(self, mapping: _Mapping, value: Any) -> None:
        mapping.model_aliases = self._model_table("model_aliases", value)

    def _azure(self, mapping: _Mapping, value: Any) -> None:
        for key, item in self._table("azure", value).items():
            if key != "deployments":
                raise self.fail(f"azure.{key}", 'unknown key; [azure] has only "deployments"')
            mapping.azure_deployments = self._model_table("azure.deployments", item)

    def _bedrock(self, mapping: _Mapping, value: Any) -> None:
        token = 'a lowercase token of letters, digits and - (e.g. "us", "anthropic")'
        for key, item in self._table("bedrock", value).items():
            where = f"bedrock.{key}"
            if key == "region_prefixes":
                mapping.bedrock_regions = self._strings(where, item, _BEDROCK_TOKEN, token)
            elif key == "publishers":
                mapping.bedrock_publishers = self._strings(where, item, _BEDROCK_TOKEN, token)
            elif key == "keep_version_suffix":
                mapping.bedrock_keep_version = self._strings(where, item, MODEL_PATTERN, "a normalized model")
            else:
                raise self.fail(where, "unknown key; [bedrock] has region_prefixes, publishers, keep_version_suffix")

    def _ollama(self, mapping: _Mapping, value: Any) -> None:
        for key, item in self._table("ollama", value).items():
            if key != "drop_tags":
                raise self.fail(f"ollama.{key}", 'unknown key; [ollama] has only "drop_tags"')
            mapping.ollama_drop_tags = self._strings("ollama.drop_tags", item, MODEL_PATTERN, 'a tag such as "latest"')

    def _free_models(self, mapping: _Mapping, value: Any) -> None:
        keys = self._strings("free_models", value, re.compile(r".+"), 'a normalized "provider/model"')
        for key in sorted(keys):
            provider, _, model = key.partition("/")
            if not _PROVIDER_NAME.fullmatch(provider) or not MODEL_PATTERN.fullmatch(model):
                raise self.fail(
                    "free_models",
                    f'"{key}" is not a normalized "provider/model" such as '
                    '"ollama/llama3.1:8b" (as usage_per_model shows it)',
                )
        mapping.free_models = keys


def _parse(path: str, text: str) -> _Mapping:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NormalizationConfigError(f"{path}: not valid TOML: {exc}; fix the syntax there") from None
    return _FileReader(path, document).read()


def _check_references(path: str, mapping: _Mapping, known: frozenset[str]) -> None:
    """Every provider a file names must be known, counting the known_providers of every file."""
    choices = f"use one of {', '.join(sorted(known))}, or add it to known_providers"
    for alias, target in mapping.provider_aliases.items():
        if target not in known:
            raise NormalizationConfigError(
                f"{path}: provider_aliases.{alias!r}: target {target!r} is not a known provider; {choices}"
            )
    strangers = sorted(mapping.publisher_prefixed - known)
    if strangers:
        raise NormalizationConfigError(
            f"{path}: publisher_prefixed_providers: {', '.join(map(repr, strangers))} not a known provider; {choices}"
        )


def _read_user_file(user_file: str | os.PathLike[str]) -> tuple[str, str]:
    path = os.fspath(user_file)
    try:
        return path, Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise NormalizationConfigError(
            f"{path}: cannot read the normalization file ({exc.strerror or exc}); check DIFY_METER_NORMALIZATION_FILE"
        ) from None
    except UnicodeDecodeError:
        raise NormalizationConfigError(f"{path}: not UTF-8 text; save the TOML file as UTF-8") from None


class Normalizer:
    """Applies a loaded mapping. `normalize` is pure and deterministic (and memoized)."""

    known_providers: frozenset[str]

    def __init__(self, mapping: _Mapping) -> None:
        self._mapping = mapping
        self.known_providers = frozenset(mapping.known_providers)
        # Each known provider is an alias of itself unless a file says otherwise.
        self._provider_aliases = {name: name for name in self.known_providers} | mapping.provider_aliases
        self._normalize_text = lru_cache(maxsize=65536)(self._normalize_uncached)

    @classmethod
    def load(cls, user_file: str | os.PathLike[str] | None = None) -> Normalizer:
        """The shipped mapping, with `user_file` (DIFY_METER_NORMALIZATION_FILE) layered on top."""
        shipped = resources.files(__package__).joinpath(_SHIPPED_NAME)
        files = [(str(shipped), shipped.read_text(encoding="utf-8"))]
        if user_file is not None:
            files.append(_read_user_file(user_file))
        parsed = [(path, _parse(path, text)) for path, text in files]
        known = frozenset().union(*(mapping.known_providers for _, mapping in parsed))
        for path, mapping in parsed:
            _check_references(path, mapping, known)
        merged = _Mapping()
        for _, mapping in parsed:
            merged = merged.merge(mapping)
        return cls(merged)

    def is_free(self, provider: str, model: str) -> bool:
        """The user declared this normalized model free (free_models): its cost 0 is its price, not a gap."""
        return f"{provider}/{model}" in self._mapping.free_models

    def is_known_provider(self, provider: str) -> bool:
        """True for a billing provider name of the mapping (a normalized provider, not a raw id)."""
        return provider in self.known_providers

    def normalize(self, provider_raw: str | None, model_raw: str | None) -> NormalizedModel:
        provider = provider_raw if isinstance(provider_raw, str) else ""
        model = model_raw if isinstance(model_raw, str) else ""
        return self._normalize_text(provider, model)

    def _normalize_uncached(self, provider_raw: str, model_raw: str) -> NormalizedModel:
        provider = self._provider(provider_raw)
        model, publisher = self._model(provider, model_raw)
        return NormalizedModel(provider=provider, model=model, publisher=publisher)

    def _provider(self, raw: str) -> str:
        key = _provider_key(raw)
        if not _PROVIDER_ID.fullmatch(key):
            return UNKNOWN
        segments = key.split("/")
        if len(segments) == 1:
            candidates = [key]
        elif len(segments) == 3:
            candidates = [key, segments[2], segments[1]]
        else:
            return UNKNOWN
        for candidate in candidates:
            if candidate in self._provider_aliases:
                return self._provider_aliases[candidate]
        return UNKNOWN

    def _model(self, provider: str, raw: str) -> tuple[str, str | None]:
        mapping = self._mapping
        publisher = None
        if provider == "aws":
            text, publisher = self._unwrap_bedrock(raw)
        else:
            text = _spell_model(raw)
        if provider in mapping.publisher_prefixed and text.count("/") == 1:
            named_publisher, text = text.split("/")
            publisher = self._publisher(named_publisher)
        text = _finish_model(text)
        if provider == "ollama":
            name, _, tag = text.rpartition(":")
            if name and tag in mapping.ollama_drop_tags:
                text = name
        if provider == "azure" and text in mapping.azure_deployments:
            text = mapping.azure_deployments[text]
        elif text in mapping.model_aliases:
            text = mapping.model_aliases[text]
        return (text if MODEL_PATTERN.fullmatch(text) else UNKNOWN), publisher

    def _publisher(self, raw: str) -> str | None:
        spelled = _finish_model(_spell_model(raw))
        publisher = self._mapping.publisher_aliases.get(spelled, spelled)
        return publisher if MODEL_PATTERN.fullmatch(publisher) else None

    def _unwrap_bedrock(self, raw: str) -> tuple[str, str | None]:
        """Bedrock id or family label -> (model, publisher); anything else passes through."""
        mapping = self._mapping
        words = raw.strip().lower().split()
        if len(words) > 1:
            publisher = words[0] if words[0] in mapping.bedrock_publishers else None
            return "-".join(words), self._publisher(publisher) if publisher else None
        text = words[0] if words else ""
        if text.startswith("arn:"):
            text = text.rpartition("/")[2]
        parts = text.split(".")
        start = 1 if len(parts) > 2 and parts[0] in mapping.bedrock_regions else 0
        if len(parts) - start < 2 or parts[start] not in mapping.bedrock_publishers:
            return text, None
        model = ".".join(parts[start + 1 :])
        revision = _BEDROCK_REVISION.search(model)
        if revision and model[: revision.start()] not in mapping.bedrock_keep_version:
            model = model[: revision.start()]
        return model, self._publisher(parts[start])
