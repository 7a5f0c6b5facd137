"""Change a served workspace the way new traffic would, so lists move between page requests.

Each helper copies rows the workspace already has (a conversation, a message with its workflow run
and nodes, an app-run with its app log) to new ids and new times, so usage, models and users stay
realistic and `Workspace.ground_truth` counts the new rows. Use them from a simulator hook
(`DifySimulator.mutate_on` / `after_request`) to change the data between two page requests:

    dify.mutate_on("/chat-conversations", 1, lambda ws: add_messages(ws, conversation_id, [moment]))

New ids are derived from the table sizes, so the same changes always give the same ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from dify_meter.core.app_modes import CONVERSATION_MODES
from dify_meter.sandbox.dify.tables import DEBUGGER, Conversation, Message, WorkflowRun
from dify_meter.sandbox.dify.workspace import Workspace

_IDS = uuid.UUID("5a4db0c5-0000-4000-8000-000000000000")


def _new_id(table: str, size: int) -> str:
    return str(uuid.uuid5(_IDS, f"{table}/{size}"))


def add_conversation(ws: Workspace, app_id: str, times: Sequence[datetime], *, like: str | None = None) -> Conversation:
    """A new conversation of a chat, agent-chat, advanced-chat or completion app with a message at each of
    `times`, copied from conversation `like` (default: the app's latest non-debugger one with messages)."""
    if not times:
        raise ValueError("a conversation needs at least one message time")
    with ws.lock:
        template = ws.conversations[like] if like else _latest_conversation(ws, app_id)
        if template.app_id != app_id:
            raise ValueError(f"conversation {template.id} belongs to app {template.app_id}, not {app_id}")
        if template.mode == "completion" and len(times) != 1:
            raise ValueError("a completion conversation has exactly one message")
        conversation = replace(
            template,
            id=_new_id("conversations", len(ws.conversations)),
            created_at=min(times),
            updated_at=max(times),
            read_at=None,
        )
        ws.add(conversation)
        _copy_messages(ws, conversation, ws.messages_of(template.id)[-1], times)
        return conversation


def add_messages(ws: Workspace, conversation_id: str, times: Sequence[datetime]) -> list[Message]:
    """New messages (copies of the conversation's last one) at `times`; as in Dify, the conversation's
    `updated_at` moves to the newest, which brings it to the front of the `-updated_at` list."""
    if not times:
        raise ValueError("give at least one message time")
    with ws.lock:
        conversation = ws.conversations[conversation_id]
        if conversation.mode not in CONVERSATION_MODES:
            raise ValueError(f"only chat conversations take more messages, not a {conversation.mode} one")
        messages = _copy_messages(ws, conversation, ws.messages_of(conversation_id)[-1], times)
        conversation.updated_at = max(conversation.updated_at, *times)
        return messages


def add_workflow_runs(
    ws: Workspace, app_id: str, starts: Sequence[datetime], *, like: str | None = None
) -> list[WorkflowRun]:
    """New runs of a workflow app starting at `starts`, each with its nodes and app log, copied from run `like`
    (default: the app's latest run that has an app log) and shifted in time."""
    with ws.lock:
        template = ws.workflow_runs[like] if like else _latest_logged_run(ws, app_id)
        log = ws.log_of_run(template.id)
        if template.app_id != app_id or log is None:
            raise ValueError(f"run {template.id} is not a logged run of app {app_id}")
        runs = []
        for start in starts:
            run = _copy_run(ws, template, start)
            ws.add(
                replace(
                    log,
                    id=_new_id("workflow_app_logs", len(ws.workflow_app_logs)),
                    workflow_run_id=run.id,
                    created_at=log.created_at + (start - template.created_at),
                )
            )
            runs.append(run)
        return runs


def _latest_conversation(ws: Workspace, app_id: str) -> Conversation:
    candidates = [c for c in ws.conversations_of(app_id) if c.invoke_from != DEBUGGER and ws.messages_of(c.id)]
    if not candidates:
        raise ValueError(f"app {app_id} has no conversation with messages to copy")
    return max(candidates, key=lambda c: c.created_at)


def _latest_logged_run(ws: Workspace, app_id: str) -> WorkflowRun:
    candidates = [r for r in ws.runs_of(app_id) if ws.log_of_run(r.id) is not None]
    if not candidates:
        raise ValueError(f"app {app_id} has no logged workflow run to copy")
    return max(candidates, key=lambda r: r.created_at)


def _copy_messages(
    ws: Workspace, conversation: Conversation, template: Message, times: Sequence[datetime]
) -> list[Message]:
    messages = []
    for moment in times:
        run_id = None
        if template.workflow_run_id:  # advanced-chat: each message is the answer of its own run
            run_id = _copy_run(ws, ws.workflow_runs[template.workflow_run_id], moment).id
        message = replace(
            template,
            id=_new_id("messages", len(ws.messages)),
            conversation_id=conversation.id,
            created_at=moment,
            workflow_run_id=run_id,
        )
        ws.add(message)
        for thought in ws.thoughts_of(template.id):
            ws.add(
                replace(
                    thought,
                    id=_new_id("agent_thoughts", len(ws.agent_thoughts)),
                    message_id=message.id,
                    created_at=moment,
                )
            )
        messages.append(message)
    return messages


def _copy_run(ws: Workspace, template: WorkflowRun, start: datetime) -> WorkflowRun:
    shift = start - template.created_at
    run = replace(
        template,
        id=_new_id("workflow_runs", len(ws.workflow_runs)),
        created_at=start,
        finished_at=template.finished_at and template.finished_at + shift,
    )
    ws.add(run)
    for node in ws.nodes_of(template.id):
        ws.add(
            replace(
                node,
                id=_new_id("node_executions", len(ws.node_executions)),
                workflow_run_id=run.id,
                created_at=node.created_at + shift,
                finished_at=node.finished_at and node.finished_at + shift,
            )
        )
    return run
