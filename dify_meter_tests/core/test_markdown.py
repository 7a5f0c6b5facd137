from decimal import Decimal

from dify_meter.core.markdown import cell, markdown_table


def test_money_is_shown_with_every_digit():
    wide = Decimal("1234567890123456789012345678.0123456789")  # 38 digits, as DECIMAL(38,10)
    assert cell(wide) == "1234567890123456789012345678.0123456789"
    assert cell(Decimal("0.0019250000")) == "0.001925"
    assert cell(Decimal("0E-7")) == "0"
    assert cell(Decimal("1200")) == "1200"


def test_table_escapes_pipes_and_counts_hidden_rows():
    table = markdown_table(("a", "b"), [("x|y", 1), ("z", 2_000)], limit=1)
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |", "| … 1 more rows | |"]
