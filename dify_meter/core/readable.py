"""Numbers and lists as a person reads them, for logs, Dagster metadata, alerts and the CLI.

Never a Python repr: `12.3456 USD`, not `{'USD': Decimal('12.3456000000')}`; `a, b and 3 more`, not `['a', 'b', …]`.
"""

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal


def decimal_text(value: Decimal) -> str:
    """Every digit of an exact amount, trailing zeros dropped."""
    # Not Decimal.normalize(): it rounds to 28 significant digits, and DECIMAL(38,10) has 38.
    text = format(value, "f")
    return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"


def amount(value: Decimal, currency: str) -> str:
    return f"{decimal_text(value)} {currency}"


def amounts(by_currency: Mapping[str, Decimal]) -> str:
    """`0.0241362 EUR and 1.5 USD`; `no cost` when there is none."""
    if not by_currency:
        return "no cost"
    return sentence(amount(value, currency) for currency, value in sorted(by_currency.items()))


def sentence(items: Iterable[object], *, limit: int = 10) -> str:
    """`a`, `a and b`, `a, b and c`; beyond `limit` items `a, b, … and 7 more`; `none` when empty."""
    texts = [str(item) for item in items]
    if not texts:
        return "none"
    if len(texts) > limit:
        return f"{', '.join(texts[:limit])} and {len(texts) - limit} more"
    if len(texts) == 1:
        return texts[0]
    return f"{', '.join(texts[:-1])} and {texts[-1]}"


def day_range(first_day: date, last_day: date) -> str:
    return str(first_day) if first_day == last_day else f"{first_day} .. {last_day}"
