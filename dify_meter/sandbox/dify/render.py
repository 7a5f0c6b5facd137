"""Rows of the simulator's tables rendered exactly as Dify's console API marshals them.

Key order and every quirk follow the recordings in dify_meter_tests/fixtures/dify-1.12.1 (for example
`model_config.model` is null in conversation list items, `is_anonymous` is always false); the later
versions' differences (`VersionBehaviour`) follow their own recordings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dify_meter.sandbox.dify.tables import (
    DEBUGGER,
    Account,
    App,
    AppModelConfig,
    Conversation,
    Message,
    NodeExecution,
    Site,
    WorkflowAppLog,
    WorkflowRun,
)
from dify_meter.sandbox.dify.time import unix

if TYPE_CHECKING:
    from dify_meter.sandbox.dify.versions import VersionBehaviour
    from dify_meter.sandbox.dify.workspace import Workspace

Json = dict[str, Any]
DISABLED_AGENT_MODE: Json = {"enabled": False, "strategy": None, "tools": [], "prompt": None}
NO_FEEDBACK: Json = {"like": 0, "dislike": 0}
OWNER_PERMISSION_KEYS = tuple(
    f"app.acl.{key}"
    for key in (
        "preview",
        "view_layout",
        "test_and_run",
        "edit",
        "import_export_dsl",
        "delete",
        "release_and_version",
        "monitor",
        "access_config",
        "tracing_config",
        "log_and_annotation",
    )
)


def account_profile(account: Account) -> Json:
    return {
        "avatar": None,
        "id": account.id,
        "name": account.name,
        "email": account.email,
        "is_password_set": True,
        "interface_language": account.interface_language,
        "interface_theme": account.interface_theme,
        "timezone": account.timezone,
        "last_login_at": unix(account.last_login_at),
        "last_login_ip": account.last_login_ip,
        "created_at": unix(account.created_at),
        "avatar_url": None,
    }


def member(account: Account, version: VersionBehaviour) -> Json:
    return {
        "avatar": None,
        "id": account.id,
        "name": account.name,
        "email": account.email,
        "last_login_at": unix(account.last_login_at),
        "last_active_at": unix(account.last_active_at),
        "created_at": unix(account.created_at),
        "role": account.role,
        **({"roles": [{"id": account.role, "name": account.role}]} if version.agent_apps else {}),  # E6
        "status": account.status,
        "avatar_url": None,
    }


def current_workspace(ws: Workspace, version: VersionBehaviour) -> Json:
    tenant = ws.tenant
    return {
        "id": tenant.id,
        "name": tenant.name,
        "plan": None if version.agent_apps else tenant.plan,  # E5
        "status": tenant.status,
        "created_at": unix(tenant.created_at),
        "role": "owner",
        "in_trial": None,
        "trial_end_reason": None,
        "custom_config": None,
        "trial_credits": None,
        "trial_credits_used": None,
        **({"trial_credits_exhausted_at": None} if version.agent_apps else {}),  # E5
        "next_credit_reset_date": None,
    }


def _short_account(account: Account | None) -> Json | None:
    if account is None:
        return None
    return {"id": account.id, "name": account.name, "email": account.email}


def _end_user(ws: Workspace, end_user_id: str | None) -> Json | None:
    end_user = ws.end_users.get(end_user_id) if end_user_id else None
    if end_user is None:
        return None
    return {"id": end_user.id, "type": end_user.type, "is_anonymous": False, "session_id": end_user.session_id}


def _creator(ws: Workspace, role: str, created_by: str) -> tuple[Json | None, Json | None]:
    """(created_by_account, created_by_end_user) of a run, node or log."""
    if role == "account":
        return _short_account(ws.accounts.get(created_by)), None
    return None, _end_user(ws, created_by)


def app_list_item(ws: Workspace, app: App, version: VersionBehaviour) -> Json:
    config = ws.app_model_configs.get(app.app_model_config_id or "")
    workflow = ws.workflows.get(app.workflow_id or "")
    author = ws.accounts.get(app.created_by)
    return {
        "id": app.id,
        "name": app.name,
        "max_active_requests": None,
        # Dify's list shows the description, else the current config's prompt.
        "description": app.description or (config.pre_prompt if config else ""),
        "mode": app.mode,
        "icon_type": app.icon_type,
        "icon": app.icon,
        "icon_background": app.icon_background,
        "model_config": None
        if config is None
        else {
            "model": config.model,
            "pre_prompt": config.pre_prompt,
            "created_by": config.created_by,
            "created_at": unix(config.created_at),
            "updated_by": config.created_by,
            "updated_at": unix(config.created_at),
        },
        "workflow": None
        if workflow is None
        else {
            "id": workflow.id,
            "created_by": workflow.created_by,
            "created_at": unix(workflow.created_at),
            "updated_by": None,
            "updated_at": unix(workflow.created_at),
        },
        "use_icon_as_answer_icon": False,
        "created_by": app.created_by,
        "created_at": unix(app.created_at),
        "updated_by": app.created_by,
        "updated_at": unix(app.updated_at or app.created_at),
        "tags": [],
        "access_mode": None,
        "create_user_name": None,
        "author_name": author.name if author else None,
        "has_draft_trigger": False,
        **(_agent_era_fields(app) if version.agent_apps else {}),
        "icon_url": None,
    }


def _agent_era_fields(app: App) -> Json:
    """E1 of the 1.16.1 recording: the owner's permissions, the bound Agent, starring and maintainer."""
    return {
        "permission_keys": list(OWNER_PERMISSION_KEYS),
        "bound_agent_id": app.bound_agent_id,
        "app_id": None,
        "is_starred": False,
        "maintainer": _maintainer(app),
    }


def _maintainer(app: App) -> str | None:
    return app.created_by if app.mode == "agent" else None  # only agent apps had one in the recording


def app_detail(ws: Workspace, app: App, api_base_url: str, version: VersionBehaviour) -> Json:
    config = ws.app_model_configs.get(app.app_model_config_id or "")
    workflow = ws.workflows.get(app.workflow_id or "")
    return {
        "id": app.id,
        "name": app.name,
        "description": app.description,
        "mode": app.mode,
        "icon": app.icon,
        "icon_background": app.icon_background,
        "enable_site": app.enable_site,
        "enable_api": app.enable_api,
        "model_config": None if config is None else _full_model_config(config, version),
        "workflow": None
        if workflow is None
        else {
            "id": workflow.id,
            "created_by": workflow.created_by,
            "created_at": unix(workflow.created_at),
            "updated_by": None,
            "updated_at": unix(workflow.created_at),
        },
        "tracing": None,
        "use_icon_as_answer_icon": False,
        "created_by": app.created_by,
        "created_at": unix(app.created_at),
        "updated_by": app.created_by,
        "updated_at": unix(app.updated_at or app.created_at),
        "access_mode": None,
        "tags": [],
        "icon_type": app.icon_type,
        "api_base_url": api_base_url,
        "max_active_requests": None,
        "deleted_tools": [],
        "site": site(ws.sites[app.id], api_base_url.removesuffix("/v1")) if app.id in ws.sites else None,
        **(
            {
                "permission_keys": list(OWNER_PERMISSION_KEYS),
                "maintainer": _maintainer(app),
                "bound_agent_id": app.bound_agent_id,
                "app_id": None,
            }
            if version.agent_apps
            else {}
        ),  # E1
        "icon_url": None,
    }


def site(row: Site, app_base_url: str) -> Json:
    """An app's web site as the app detail shows it (`10-agent-app-detail.json`)."""
    return {
        "access_token": row.code,
        "code": row.code,
        "title": row.title,
        "icon_type": row.icon_type,
        "icon": row.icon,
        "icon_background": row.icon_background,
        "description": None,
        "default_language": "en-US",
        "chat_color_theme": None,
        "chat_color_theme_inverted": False,
        "customize_domain": None,
        "copyright": None,
        "privacy_policy": None,
        "input_placeholder": None,
        "custom_disclaimer": "",
        "customize_token_strategy": "not_allow",
        "prompt_public": False,
        "app_base_url": app_base_url,
        "show_workflow_steps": True,
        "use_icon_as_answer_icon": False,
        "created_by": row.created_by,
        "created_at": unix(row.created_at),
        "updated_by": row.created_by,
        "updated_at": unix(row.created_at),
        "icon_url": None,
    }


def _full_model_config(config: AppModelConfig, version: VersionBehaviour) -> Json:
    return {
        "opening_statement": None,
        "suggested_questions": [],
        "suggested_questions_after_answer": {"enabled": False},
        "speech_to_text": {"enabled": False},
        "text_to_speech": {"enabled": False},
        "retriever_resource": {"enabled": True},
        "annotation_reply": {"enabled": False},
        "more_like_this": {"enabled": False},
        "sensitive_word_avoidance": {"enabled": False, "type": "", "config": {}}
        if version.sensitive_word_config_object
        else {"enabled": False, "type": "", "configs": []},
        "external_data_tools": [],
        "model": config.model,
        "user_input_form": [],
        "dataset_query_variable": None,
        "pre_prompt": config.pre_prompt,
        "agent_mode": config.agent_mode or DISABLED_AGENT_MODE,
        "prompt_type": config.prompt_type,
        "chat_prompt_config": {},
        "completion_prompt_config": {},
        "dataset_configs": {"retrieval_model": "multiple"},
        "file_upload": {
            "image": {
                "enabled": False,
                "number_limits": 3,
                "detail": "high",
                "transfer_methods": ["remote_url", "local_file"],
            }
        },
        "created_by": config.created_by,
        "created_at": unix(config.created_at),
        "updated_by": config.created_by,
        "updated_at": unix(config.created_at),
    }


def _conversation_model_config(ws: Workspace, conversation: Conversation) -> Json:
    config = ws.app_model_configs.get(conversation.app_model_config_id or "")
    if config is None:
        return {
            key: None
            for key in (
                "opening_statement",
                "suggested_questions",
                "model",
                "user_input_form",
                "pre_prompt",
                "agent_mode",
            )
        }
    return {
        "opening_statement": None,
        "suggested_questions": [],
        "model": config.model,
        "user_input_form": [],
        "pre_prompt": config.pre_prompt,
        "agent_mode": config.agent_mode or DISABLED_AGENT_MODE,
    }


def _list_model_config(ws: Workspace, conversation: Conversation, version: VersionBehaviour) -> Json:
    config = ws.app_model_configs.get(conversation.app_model_config_id or "")
    # 1.12.1 marshals `model` from an attribute list items do not have: always null; 1.14 fills it (D1).
    model = config.model if config and version.list_items_carry_model else None
    if conversation.mode == "agent":  # 1.16.1: no model exposed (10-agent-chat-conversations)
        model = None if conversation.invoke_from == DEBUGGER else {}
    return {"model": model, "pre_prompt": config.pre_prompt if config else None}


def _summary(ws: Workspace, conversation: Conversation) -> str:
    if conversation.summary:
        return conversation.summary
    messages = ws.messages_of(conversation.id)
    first = min(messages, key=lambda m: m.created_at) if messages else None
    return first.query if first else ""


def _status_count(ws: Workspace, conversation: Conversation, version: VersionBehaviour) -> Json | None:
    runs = [ws.workflow_runs.get(m.workflow_run_id) for m in ws.messages_of(conversation.id) if m.workflow_run_id]
    statuses = [run.status for run in runs if run]
    if not statuses:
        return (
            None
            if version.null_status_count_without_runs
            else {"success": None, "failed": None, "partial_success": None}
        )
    counts = {
        "success": statuses.count("succeeded"),
        "failed": statuses.count("failed"),
        "partial_success": statuses.count("partial-succeeded"),
    }
    return {**counts, "paused": statuses.count("paused")} if version.null_status_count_without_runs else counts


def _from_account_name(ws: Workspace, conversation: Conversation) -> str | None:
    account = ws.accounts.get(conversation.from_account_id or "")
    return account.name if account else None


def _session_id(ws: Workspace, end_user_id: str | None) -> str | None:
    end_user = ws.end_users.get(end_user_id or "")
    return end_user.session_id if end_user else None


def chat_conversation_item(ws: Workspace, conversation: Conversation, version: VersionBehaviour) -> Json:
    return {
        "id": conversation.id,
        "status": conversation.status,
        "from_source": conversation.from_source,
        "from_end_user_id": conversation.from_end_user_id,
        "from_end_user_session_id": _session_id(ws, conversation.from_end_user_id),
        "from_account_id": conversation.from_account_id,
        "from_account_name": _from_account_name(ws, conversation),
        "name": conversation.name,
        "summary": _summary(ws, conversation),
        "read_at": unix(conversation.read_at),
        "created_at": unix(conversation.created_at),
        "updated_at": unix(conversation.updated_at),
        "annotated": False,
        "model_config": _list_model_config(ws, conversation, version),
        "message_count": len(ws.messages_of(conversation.id)),
        "user_feedback_stats": NO_FEEDBACK,
        "admin_feedback_stats": NO_FEEDBACK,
        "status_count": _status_count(ws, conversation, version),
    }


def completion_conversation_item(ws: Workspace, conversation: Conversation, version: VersionBehaviour) -> Json:
    messages = ws.messages_of(conversation.id)
    first = messages[0] if messages else None
    return {
        "id": conversation.id,
        "status": conversation.status,
        "from_source": conversation.from_source,
        "from_end_user_id": conversation.from_end_user_id,
        "from_end_user_session_id": _session_id(ws, conversation.from_end_user_id),
        "from_account_id": conversation.from_account_id,
        "from_account_name": _from_account_name(ws, conversation),
        "read_at": unix(conversation.read_at),
        "created_at": unix(conversation.created_at),
        "updated_at": unix(conversation.updated_at),
        "annotation": None,
        "model_config": _list_model_config(ws, conversation, version),
        "user_feedback_stats": NO_FEEDBACK,
        "admin_feedback_stats": NO_FEEDBACK,
        "message": None
        if first is None
        else {
            "inputs": first.inputs,
            "query": first.query,
            "message": first.query,  # the first prompt message's text, which is the query
            "answer": first.answer,
        },
    }


def chat_conversation_detail(ws: Workspace, conversation: Conversation) -> Json:
    return {
        "id": conversation.id,
        "status": conversation.status,
        "from_source": conversation.from_source,
        "from_end_user_id": conversation.from_end_user_id,
        "from_account_id": conversation.from_account_id,
        "created_at": unix(conversation.created_at),
        "updated_at": unix(conversation.updated_at),
        "annotated": False,
        "introduction": None,
        "model_config": _conversation_model_config(ws, conversation),
        "message_count": len(ws.messages_of(conversation.id)),
        "user_feedback_stats": NO_FEEDBACK,
        "admin_feedback_stats": NO_FEEDBACK,
    }


def completion_conversation_detail(ws: Workspace, conversation: Conversation, version: VersionBehaviour) -> Json:
    messages = ws.messages_of(conversation.id)
    return {
        "id": conversation.id,
        "status": conversation.status,
        "from_source": conversation.from_source,
        "from_end_user_id": conversation.from_end_user_id,
        "from_account_id": conversation.from_account_id,
        "created_at": unix(conversation.created_at),
        "model_config": _conversation_model_config(ws, conversation),
        "message": message(ws, messages[0], version, False) if messages else None,
    }


def message(ws: Workspace, row: Message, version: VersionBehaviour, extra_contents: bool) -> Json:
    """A message; `extra_contents`: 1.14+ in `chat-messages` (D4), never in the completion detail."""
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "inputs": row.inputs,
        "query": row.query,
        "message": [{"role": "user", "text": row.query, "files": []}],
        "message_tokens": row.message_tokens,
        "answer": row.answer,
        "answer_tokens": row.answer_tokens,
        "provider_response_latency": row.provider_response_latency,
        "from_source": row.from_source,
        "from_end_user_id": row.from_end_user_id,
        "from_account_id": row.from_account_id,
        "feedbacks": [],
        "workflow_run_id": row.workflow_run_id,
        "annotation": None,
        "annotation_hit_history": None,
        "created_at": unix(row.created_at),
        "agent_thoughts": [
            {
                "id": thought.id,
                "chain_id": None,
                "message_id": thought.message_id,
                "position": thought.position,
                "thought": thought.thought,
                **({"answer": thought.answer} if version.agent_apps else {}),  # E3
                "tool": thought.tool,
                "tool_labels": {},
                "tool_input": thought.tool_input,
                "created_at": unix(thought.created_at),
                "observation": thought.observation,
                "files": [],
            }
            for thought in sorted(ws.thoughts_of(row.id), key=lambda t: t.position)
        ],
        "message_files": [],
        **({"extra_contents": []} if extra_contents else {}),
        "metadata": row.metadata or {},
        "status": row.status,
        "error": row.error,
        "parent_message_id": row.parent_message_id,
    }


def app_log(ws: Workspace, log: WorkflowAppLog) -> Json:
    run = ws.workflow_runs[log.workflow_run_id]
    account, end_user = _creator(ws, log.created_by_role, log.created_by)
    return {
        "id": log.id,
        "workflow_run": {
            "id": run.id,
            "version": run.version,
            "status": run.status,
            "triggered_from": run.triggered_from,
            "error": run.error,
            "elapsed_time": run.elapsed_time,
            "total_tokens": run.total_tokens,
            "total_steps": run.total_steps,
            "created_at": unix(run.created_at),
            "finished_at": unix(run.finished_at),
            "exceptions_count": run.exceptions_count,
        },
        "details": None,
        "created_from": log.created_from,
        "created_by_role": log.created_by_role,
        "created_by_account": account,
        "created_by_end_user": end_user,
        "created_at": unix(log.created_at),
    }


def run_list_item(ws: Workspace, run: WorkflowRun, with_conversation: bool) -> Json:
    item: Json = {"id": run.id}
    if with_conversation:
        message_row = ws.message_of_run(run.id)
        item["conversation_id"] = message_row.conversation_id if message_row else None
        item["message_id"] = message_row.id if message_row else None
    account, _ = _creator(ws, run.created_by_role, run.created_by)
    item.update(
        {
            "version": run.version,
            "status": run.status,
            "elapsed_time": run.elapsed_time,
            "total_tokens": run.total_tokens,
            "total_steps": run.total_steps,
            "created_by_account": account,
            "created_at": unix(run.created_at),
            "finished_at": unix(run.finished_at),
            "exceptions_count": run.exceptions_count,
            "retry_index": None,
        }
    )
    return item


def run_detail(ws: Workspace, run: WorkflowRun) -> Json:
    account, end_user = _creator(ws, run.created_by_role, run.created_by)
    return {
        "id": run.id,
        "version": run.version,
        "graph": run.graph,
        "inputs": run.inputs,
        "status": run.status,
        "outputs": run.outputs,
        "error": run.error,
        "elapsed_time": run.elapsed_time,
        "total_tokens": run.total_tokens,
        "total_steps": run.total_steps,
        "created_by_role": run.created_by_role,
        "created_by_account": account,
        "created_by_end_user": end_user,
        "created_at": unix(run.created_at),
        "finished_at": unix(run.finished_at),
        "exceptions_count": run.exceptions_count,
    }


def node_execution(ws: Workspace, node: NodeExecution) -> Json:
    account, end_user = _creator(ws, node.created_by_role, node.created_by)
    return {
        "id": node.id,
        "index": node.index,
        "predecessor_node_id": node.predecessor_node_id,
        "node_id": node.node_id,
        "node_type": node.node_type,
        "title": node.title,
        "inputs": node.inputs,
        "process_data": node.process_data,
        "outputs": node.outputs,
        "status": node.status,
        "error": node.error,
        "elapsed_time": node.elapsed_time,
        "execution_metadata": node.execution_metadata or {},
        "extras": {},
        "created_at": unix(node.created_at),
        "created_by_role": node.created_by_role,
        "created_by_account": account,
        "created_by_end_user": end_user,
        "finished_at": unix(node.finished_at),
        "inputs_truncated": False,
        "outputs_truncated": False,
        "process_data_truncated": node.process_data_truncated,
    }
