from dify_meter.core.app_modes import (
    APP_MODES,
    CONVERSATION_MODES,
    MESSAGE_MODES,
    MESSAGE_STATISTICS_MODES,
    USAGE_MODES,
    WORKFLOW_MODES,
)


def test_each_mode_is_one_row() -> None:
    modes = [row.mode for row in APP_MODES]
    assert len(modes) == len(set(modes))


def test_the_sets_the_reader_relies_on() -> None:
    assert {"chat", "agent-chat", "completion", "advanced-chat", "workflow"} == USAGE_MODES
    assert {"chat", "agent-chat", "advanced-chat"} == CONVERSATION_MODES
    assert {"advanced-chat", "workflow"} == WORKFLOW_MODES
    assert {"chat", "agent-chat", "completion"} == MESSAGE_MODES
    assert {"chat", "agent-chat", "completion", "advanced-chat"} == MESSAGE_STATISTICS_MODES
    assert "channel" not in USAGE_MODES
