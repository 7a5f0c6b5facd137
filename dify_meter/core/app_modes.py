"""Dify app modes, one row each: which make LLM usage and which console records carry it.

A new mode (as Dify 1.16's `agent` was) is one more row; every set below is derived from the table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AppMode:
    mode: str
    llm_usage: bool  # Dify records model usage for its runs
    conversations: bool  # chat-like: its messages belong to conversations
    workflow_runs: bool  # workflow-like: its usage is in workflow runs and their nodes
    message_statistics: bool  # counted by Dify's per-app message statistics


APP_MODES = (
    AppMode("chat", llm_usage=True, conversations=True, workflow_runs=False, message_statistics=True),
    AppMode("agent-chat", llm_usage=True, conversations=True, workflow_runs=False, message_statistics=True),
    AppMode("completion", llm_usage=True, conversations=False, workflow_runs=False, message_statistics=True),
    AppMode("advanced-chat", llm_usage=True, conversations=True, workflow_runs=True, message_statistics=True),
    AppMode("workflow", llm_usage=True, conversations=False, workflow_runs=True, message_statistics=False),
    # Dify 1.16+: New Agent apps; their messages come from the Agent's logs, the model from its config snapshots.
    AppMode("agent", llm_usage=True, conversations=True, workflow_runs=False, message_statistics=True),
    # Known to make no LLM calls Dify reports: skipped quietly. Any mode not in this table is never skipped
    # quietly (its usage may be real and missing).
    AppMode("channel", llm_usage=False, conversations=False, workflow_runs=False, message_statistics=False),
    AppMode("rag-pipeline", llm_usage=False, conversations=False, workflow_runs=False, message_statistics=False),
)

ADVANCED_CHAT = "advanced-chat"
COMPLETION = "completion"
WORKFLOW = "workflow"
AGENT = "agent"

KNOWN_MODES = frozenset(row.mode for row in APP_MODES)
USAGE_MODES = frozenset(row.mode for row in APP_MODES if row.llm_usage)  # the modes the exporter reads
NO_LLM_MODES = KNOWN_MODES - USAGE_MODES
CONVERSATION_MODES = frozenset(row.mode for row in APP_MODES if row.conversations)
WORKFLOW_MODES = frozenset(row.mode for row in APP_MODES if row.workflow_runs)
# Messages carry their own usage (no workflow behind them); the model is read from the message or conversation.
MESSAGE_MODES = frozenset(row.mode for row in APP_MODES if row.llm_usage and not row.workflow_runs)
MESSAGE_STATISTICS_MODES = frozenset(row.mode for row in APP_MODES if row.message_statistics)
# Dify's statistics are asked for every app outside these, known or not (an unknown mode's usage is reported).
NO_MESSAGE_STATISTICS_MODES = KNOWN_MODES - MESSAGE_STATISTICS_MODES
