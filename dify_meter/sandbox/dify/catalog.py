"""The models a generated workspace uses, with Dify's provider ids, model-name quirks and prices.

Prices are what a Dify model runtime reports: unit prices per `price_unit` tokens, each part
rounded to Numeric(10,7), rendered as decimal strings. Unpriced models report "0.0" everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

PRICE_PLACES = Decimal("0.0000001")
PER_TOKEN = Decimal("0.000001")  # prices per 1M tokens
PER_THOUSAND = Decimal("0.001")  # tongyi reports prices per 1K tokens


@dataclass(frozen=True)
class Model:
    provider: str
    name: str
    prompt_unit_price: str = "0.0"
    completion_unit_price: str = "0.0"
    price_unit: Decimal = PER_TOKEN
    currency: str = "USD"
    mode: str = "chat"

    @property
    def priced(self) -> bool:
        return Decimal(self.prompt_unit_price) > 0


@dataclass(frozen=True)
class Usage:
    """One model call's usage, with Dify's JSON rendering."""

    model: Model
    prompt_tokens: int
    completion_tokens: int
    latency: float

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def _part(self, tokens: int, unit_price: str) -> Decimal:
        return (tokens * Decimal(unit_price) * self.model.price_unit).quantize(PRICE_PLACES, ROUND_HALF_UP)

    @property
    def total_price(self) -> Decimal:
        """Numeric(10,7); zero for unpriced models."""
        if not self.model.priced:
            return Decimal("0").quantize(PRICE_PLACES)
        return self._part(self.prompt_tokens, self.model.prompt_unit_price) + self._part(
            self.completion_tokens, self.model.completion_unit_price
        )

    def price_text(self) -> str:
        return format(self.total_price, "f") if self.model.priced else "0.0"

    def as_json(self) -> dict[str, Any]:
        model = self.model
        if model.priced:
            prompt_price = format(self._part(self.prompt_tokens, model.prompt_unit_price), "f")
            completion_price = format(self._part(self.completion_tokens, model.completion_unit_price), "f")
            price_unit = format(model.price_unit, "f")
            prompt_unit, completion_unit = model.prompt_unit_price, model.completion_unit_price
        else:
            prompt_price = completion_price = price_unit = prompt_unit = completion_unit = "0.0"
        return {
            "prompt_tokens": self.prompt_tokens,
            "prompt_unit_price": prompt_unit,
            "prompt_price_unit": price_unit,
            "prompt_price": prompt_price,
            "completion_tokens": self.completion_tokens,
            "completion_unit_price": completion_unit,
            "completion_price_unit": price_unit,
            "completion_price": completion_price,
            "total_tokens": self.total_tokens,
            "total_price": self.price_text(),
            "currency": model.currency,
            "latency": self.latency,
            "time_to_first_token": None,
            "time_to_generate": None,
        }


def _m(provider: str, name: str, prompt: str = "0.0", completion: str = "0.0", **kw: Any) -> Model:
    return Model(provider, name, prompt, completion, **kw)


# Plugin-era (1.x) and pre-plugin (0.x) ids of the same provider appear side by side.
GPT_4O = _m("langgenius/openai/openai", "gpt-4o", "2.50", "10.00")
GPT_4O_MINI = _m("langgenius/openai/openai", "gpt-4o-mini", "0.15", "0.60")
GPT_4O_MINI_0X = _m("openai", "gpt-4o-mini", "0.15", "0.60")
GPT_4O_0X = _m("openai", "gpt-4o", "2.50", "10.00")  # the same model as GPT_4O, saved before 1.0
SONNET = _m("langgenius/anthropic/anthropic", "claude-3-5-sonnet-20241022", "3.00", "15.00")
HAIKU = _m("langgenius/anthropic/anthropic", "claude-3-5-haiku-20241022", "0.80", "4.00")
HAIKU_0X = _m("anthropic", "claude-3-5-haiku-20241022", "0.80", "4.00")
BEDROCK_0X = _m("bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", "3.00", "15.00")
BEDROCK_US = _m("langgenius/bedrock/bedrock", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "3.00", "15.00")
BEDROCK_EU = _m("langgenius/bedrock/bedrock", "eu.anthropic.claude-3-5-sonnet-20240620-v1:0", "3.00", "15.00")
BEDROCK_FAMILY = _m("langgenius/bedrock/bedrock", "anthropic claude", "3.00", "15.00")
BEDROCK_NOVA = _m("langgenius/bedrock/bedrock", "amazon nova", "0.80", "3.20")
GEMINI_0X = _m("google", "gemini-1.5-flash", "0.075", "0.30", mode="completion")
GEMINI = _m("langgenius/gemini/google", "gemini-2.0-flash", "0.10", "0.40", mode="completion")
VERTEX_HAIKU = _m("langgenius/vertex_ai/vertex_ai", "claude-3-haiku@20240307", "0.25", "1.25")
AZURE_DEPLOYMENT = _m("langgenius/azure_openai/azure_openai", "prod-gpt4o-eastus")  # unpriced
GROK_0X = _m("x", "grok-beta", "5.00", "15.00")
GROK = _m("langgenius/x/x", "grok-2-1212", "2.00", "10.00")
DEEPSEEK = _m("langgenius/deepseek/deepseek", "deepseek-chat", "0.27", "1.10")
OPENROUTER_HAIKU = _m("langgenius/openrouter/openrouter", "anthropic/claude-haiku-4.5")  # unpriced
OPENROUTER_LLAMA = _m("langgenius/openrouter/openrouter", "meta-llama/llama-3.1-70b-instruct")  # unpriced
OLLAMA = _m("langgenius/ollama/ollama", "llama3.1:8b")  # unpriced
COMPATIBLE = _m("langgenius/openai_api_compatible/openai_api_compatible", "qwen2.5-coder-32b")  # unpriced
COMMUNITY = _m("someorg/someplugin/provider", "someorg-large-v1", "1.00", "2.00", mode="completion")
MISTRAL_EUR = _m("langgenius/mistralai/mistralai", "mistral-large-latest", "1.80", "5.40", currency="EUR")
QWEN_MAX = _m(
    "langgenius/tongyi/tongyi", "qwen-max", "0.02", "0.06", price_unit=PER_THOUSAND, currency="RMB", mode="completion"
)
QWEN_PLUS = _m("langgenius/tongyi/tongyi", "qwen-plus", "0.0008", "0.002", price_unit=PER_THOUSAND, currency="RMB")
