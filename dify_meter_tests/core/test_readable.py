from datetime import date
from decimal import Decimal

from dify_meter.core.readable import amount, amounts, day_range, decimal_text, sentence


def test_amounts_keep_every_digit_and_drop_trailing_zeros():
    assert amount(Decimal("12.3456000000"), "USD") == "12.3456 USD"
    assert decimal_text(Decimal("0E-10")) == "0"
    assert decimal_text(Decimal("1234567890123456789012345678.0123456789")) == "1234567890123456789012345678.0123456789"
    assert amounts({"USD": Decimal("1.50"), "EUR": Decimal("0.0241362000")}) == "0.0241362 EUR and 1.5 USD"
    assert amounts({}) == "no cost"


def test_lists_read_as_short_sentences():
    assert sentence([]) == "none"
    assert sentence(["a"]) == "a"
    assert sentence(["a", "b", "c"]) == "a, b and c"
    assert sentence(range(13), limit=3) == "0, 1, 2 and 10 more"
    assert day_range(date(2026, 11, 10), date(2026, 11, 10)) == "2026-11-10"
    assert day_range(date(2026, 11, 10), date(2026, 11, 12)) == "2026-11-10 .. 2026-11-12"
