"""Generated workflow runs and their node executions, built one node at a time like Dify records them.

A `RunBuilder` lays nodes out sequentially (each starts when the previous one ends), keeps the
index order Dify gives them (a container before its children), and on `finish()` writes the run,
its nodes and, unless it is a debugger or still running, its app log (at the run's end).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from dify_meter.sandbox.dify.catalog import Model, Usage
from dify_meter.sandbox.dify.gen_context import GenContext
from dify_meter.sandbox.dify.tables import App, NodeExecution, WorkflowAppLog, WorkflowRun

PROMPTS = [{"role": "user", "text": "...", "files": []}]
NODE_OUTPUTS: dict[str, dict[str, Any]] = {
    "llm": {"text": "ok"},
    "question-classifier": {"class_name": "general", "class_id": "1"},
    "parameter-extractor": {"__is_success": 1, "__reason": None, "amount": 120.5},
}


@dataclass(frozen=True)
class Creator:
    role: str  # account or end_user
    id: str
    created_from: str  # service-api, web-app, installed-app (what the app log records)


class RunBuilder:
    def __init__(
        self, ctx: GenContext, app: App, creator: Creator, start: datetime, *, triggered_from: str, pace: float = 2.0
    ) -> None:
        self.ctx, self.app, self.creator = ctx, app, creator
        self.triggered_from = triggered_from
        self.run_id = ctx.uuid()
        self.start = self.clock = start
        self.pace = pace  # typical seconds one node takes
        self.nodes: list[NodeExecution] = []
        self.calls: list[Usage] = []  # usage of leaf model calls (what the run's total_tokens sums)

    def _node(
        self, node_type: str, node_id: str, title: str, *, status: str = "succeeded", **columns: Any
    ) -> NodeExecution:
        created = self.clock
        finished = None
        if status != "running":
            finished = created + timedelta(seconds=self.ctx.rng.randint(round(self.pace / 2), round(self.pace * 1.5)))
            self.clock = finished
        node = NodeExecution(
            id=self.ctx.uuid(),
            app_id=self.app.id,
            workflow_run_id=self.run_id,
            index=len(self.nodes) + 1,
            node_id=node_id,
            node_type=node_type,
            title=title,
            status=status,
            created_by_role=self.creator.role,
            created_by=self.creator.id,
            created_at=created,
            finished_at=finished,
            elapsed_time=round((finished - created).total_seconds(), 1) if finished else 0.0,
            **columns,
        )
        self.nodes.append(node)
        return node

    def step(
        self,
        node_type: str,
        node_id: str,
        title: str,
        outputs: dict[str, Any] | None = None,
        *,
        status: str = "succeeded",
        error: str | None = None,
    ) -> NodeExecution:
        """A node that calls no model (start, triggers, code, http-request, answer, end...)."""
        return self._node(
            node_type, node_id, title, status=status, error=error, outputs=outputs or {}, execution_metadata={}
        )

    def in_progress(self, node_type: str, node_id: str, title: str) -> NodeExecution:
        """A node still running: no end, no usage yet."""
        return self._node(node_type, node_id, title, status="running", outputs=None, execution_metadata={})

    def call(
        self,
        node_type: str,
        node_id: str,
        title: str,
        model: Model | None,
        *,
        shape: str = "1.x",
        within: tuple[str, str, int] | None = None,
    ) -> NodeExecution:
        """A model call: llm, question-classifier, parameter-extractor (shape 1.x, 0.x, truncated) or agent.

        `within` = (container kind, container node_id, round) for children of iterations and loops.
        """
        rng = self.ctx.rng
        completion = rng.randint(3, 20) if node_type == "question-classifier" else rng.randint(20, 700)
        usage = Usage(model or _AGENT_MODEL, rng.randint(150, 2500), completion, round(rng.uniform(0.5, 4), 1))
        self.calls.append(usage)
        usage_json = usage.as_json()
        metadata: dict[str, Any] = {
            "total_tokens": usage.total_tokens,
            "total_price": usage.price_text(),
            "currency": usage.model.currency,
        }
        if within:
            kind, parent, round_index = within
            metadata |= {f"{kind}_id": parent, f"{kind}_index": round_index}
        if node_type == "agent":
            outputs = {"text": "done", "usage": usage_json, "files": [], "json": [{"data": []}]}
            return self._node(
                node_type,
                node_id,
                title,
                process_data=None,
                outputs=outputs,
                inputs={"agent_strategy": "function_calling", "query": "..."},
                execution_metadata={"tool_info": {"icon": "", "agent_strategy": "function_calling"}, "agent_log": []},
            )
        assert model is not None
        process_data: dict[str, Any] = {"model_mode": "chat", "prompts": PROMPTS}
        if shape != "0.x":  # before 1.0 the usage was only in outputs
            process_data |= {"usage": usage_json, "finish_reason": "stop"}
        process_data |= {"model_provider": model.provider, "model_name": model.name}
        if shape == "truncated":
            process_data["prompts"] = [{"role": "user", "text": "A very long document " * 8 + "...", "files": []}]
        outputs = {**NODE_OUTPUTS[node_type], "usage": usage_json}
        return self._node(
            node_type,
            node_id,
            title,
            process_data=process_data,
            outputs=outputs,
            execution_metadata=metadata,
            process_data_truncated=shape == "truncated",
        )

    def container(self, kind: str, node_id: str, title: str, rounds: int, body: Callable[[int], object]) -> None:
        """An iteration or loop: its row comes first, its children follow, and its metadata sums them."""
        node = self._node(kind, node_id, title, outputs={"output": ["ok"] * rounds})
        calls_before = len(self.calls)
        durations = {}
        for round_index in range(rounds):
            round_start = self.clock
            body(round_index)
            durations[str(round_index)] = round((self.clock - round_start).total_seconds(), 1)
        children = self.calls[calls_before:]
        total = sum((c.total_price for c in children), Decimal(0))
        node.execution_metadata = {
            "total_tokens": sum(c.total_tokens for c in children),
            "total_price": format(total, "f") if total else "0.0",
            "currency": children[0].model.currency if children else "USD",
            f"{kind}_duration_map": durations,
        }
        node.finished_at = self.clock
        node.elapsed_time = round((self.clock - node.created_at).total_seconds(), 1)

    def finish(
        self,
        *,
        status: str = "succeeded",
        error: str | None = None,
        run_type: str = "workflow",
        version: str = "2025-01-01 00:00:00.000000",
    ) -> WorkflowRun:
        workflow_id = self.app.workflow_id
        assert workflow_id is not None
        running = status == "running"
        debugging = self.triggered_from == "debugging"
        run = WorkflowRun(
            id=self.run_id,
            app_id=self.app.id,
            workflow_id=workflow_id,
            type=run_type,
            triggered_from=self.triggered_from,
            version="draft" if debugging else version,
            status=status,
            elapsed_time=round((self.clock - self.start).total_seconds(), 1),
            total_tokens=sum(c.total_tokens for c in self.calls),
            total_steps=len(self.nodes),
            created_by_role=self.creator.role,
            created_by=self.creator.id,
            created_at=self.start,
            finished_at=None if running else self.clock,
            error=error,
        )
        ws = self.ctx.ws
        with ws.lock:
            ws.add(run)
            for node in self.nodes:
                ws.add(node)
            if not running and not debugging and run_type == "workflow":
                ws.add(
                    WorkflowAppLog(
                        self.ctx.uuid(),
                        self.app.id,
                        run.id,
                        self.creator.created_from,
                        self.creator.role,
                        self.creator.id,
                        self.clock,
                    )
                )
        return run


_AGENT_MODEL = Model("unknown", "unknown", "2.50", "10.00")  # agent nodes report usage but name no model
