"""Grow the recorded fixture workspace with copies of its own rows, to reach Dify's page sizes."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from dify_meter.sandbox.dify.tables import App, Conversation, Message, Row
from dify_meter.sandbox.dify.workspace import Workspace

SUPPORT_CHAT = "a1000000-0000-4000-8000-000000000001"
LOCAL_LLAMA = "a1000000-0000-4000-8000-000000000006"
INVOICE_PIPELINE = "a1000000-0000-4000-8000-000000000005"
EXPLORE_CONVERSATION = "c1000000-0000-4000-8000-000000000003"  # Dana, one priced gpt-4o message
DANA_RUN = "f1000000-0000-4000-8000-000000000004"  # app-run by Dana: start + one llm node

_counter = iter(range(1, 10**6))
RowT = TypeVar("RowT", bound=Row)


def _add(ws: Workspace, row: RowT) -> RowT:
    ws.add(row)
    return row


def new_id(kind: int) -> str:
    """A fresh UUID whose first hex digits tell the row kind apart when a test fails."""
    return str(uuid.UUID(int=(kind << 124) | next(_counter)))


def add_apps(ws: Workspace, template_id: str, count: int) -> list[App]:
    template = ws.apps[template_id]
    return [_add(ws, replace(template, id=new_id(0xA), name=f"{template.name} copy {n}")) for n in range(count)]


def add_conversation(ws: Workspace, template_id: str, message_times: list[datetime]) -> Conversation:
    """A copy of a one-message conversation with one copy of its message per time (in that order)."""
    template = ws.conversations[template_id]
    message = ws.messages_of(template_id)[0]
    conversation = _add(
        ws, replace(template, id=new_id(0xC), created_at=message_times[0], updated_at=max(message_times), read_at=None)
    )
    for moment in message_times:
        add_message(ws, conversation, message, moment)
    return conversation


def add_message(ws: Workspace, conversation: Conversation, template: Message, moment: datetime) -> Message:
    return _add(ws, replace(template, id=new_id(0xD), conversation_id=conversation.id, created_at=moment))


def add_workflow_runs(ws: Workspace, template_id: str, starts: list[datetime]) -> None:
    run = ws.workflow_runs[template_id]
    log = ws.log_of_run(template_id)
    assert log is not None
    nodes = ws.nodes_of(template_id)
    for start in starts:
        shift = start - run.created_at
        finished_at = run.finished_at + shift if run.finished_at else None
        copy = _add(ws, replace(run, id=new_id(0xF), created_at=start, finished_at=finished_at))
        ws.add(replace(log, id=new_id(0x8), workflow_run_id=copy.id, created_at=log.created_at + shift))
        for node in nodes:
            ws.add(
                replace(
                    node,
                    id=new_id(0x7),
                    workflow_run_id=copy.id,
                    created_at=node.created_at + shift,
                    finished_at=node.finished_at and node.finished_at + shift,
                )
            )


def every(start: datetime, step: timedelta, count: int) -> list[datetime]:
    return [start + step * n for n in range(count)]
