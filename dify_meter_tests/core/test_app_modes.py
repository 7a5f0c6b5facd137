from dify_meter.core.app_modes import (
    APP_MODES,
    CONVERSATION_MODES,
    MESSAGE_MODES,
    MESSAGE_STATISTICS_MODES,
    NO_LLM_MODES,
    NO_MESSAGE_STATISTICS_MODES,
    USAGE_MODES,
    WORKFLOW_MODES,
)


def test_each_mode_is_one_row() -> None:
    modes = [row.mode for row in APP_MODES]
    assert len(modes) == len(set(modes))


def test_the_sets_the_reader_relies_on() -> None:
    assert {"chat", "agent-chat", "completion", "advanced-chat", "workflow", "agent"} == USAGE_MODES
    assert {"chat", "agent-chat", "advanced-chat", "agent"} == CONVERSATION_MODES
    assert {"advanced-chat", "workflow"} == WORKFLOW_MODES
    assert {"chat", "agent-chat", "completion", "agent"} == MESSAGE_MODES
    assert {"chat", "agent-chat", "completion", "advanced-chat", "agent"} == MESSAGE_STATISTICS_MODES
    assert {"channel", "rag-pipeline"} == NO_LLM_MODES  # skipped quietly; any other unknown mode is not


def test_an_unknown_mode_is_asked_for_dify_statistics() -> None:
    assert "some-future-mode" not in NO_MESSAGE_STATISTICS_MODES
    assert {"workflow", "channel", "rag-pipeline"} == NO_MESSAGE_STATISTICS_MODES
