from typing import get_args

from dify_meter.usage.aggregate_modes import AGGREGATE_MODES, AggregateMode


def test_the_mode_type_names_exactly_the_rows() -> None:
    assert [row.mode for row in AGGREGATE_MODES] == list(get_args(AggregateMode))


def test_tables_titles_and_phases_are_one_per_mode() -> None:
    for field in ("table", "title", "phase"):
        values = [getattr(row, field) for row in AGGREGATE_MODES]
        assert len(set(values)) == len(values), field


def test_the_export_summary_shows_each_key_but_the_day_and_the_currency() -> None:
    for row in AGGREGATE_MODES:
        shown = {column for _, column in row.summary_columns}
        assert all(column in " ".join(shown) for column in row.preview_columns if column != "usage_date"), row.mode
