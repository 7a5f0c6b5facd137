"""HTTP client of Dify's console API, authenticated with the admin API key or a service account.

Every request goes through one door, `ConsoleTransport.call` (dify_meter/sources/console/transport.py): the
read-only allowlist, login and session renewal, bounded adaptive concurrency and retries live there.
The client is safe to share between threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TypeVar

from dify_meter.core.retry import DIFY_CONSOLE_RETRY, RetryPolicy
from dify_meter.core.validation import http_url
from dify_meter.sources.console.auth import AdminKeyAuth, PasswordAuth
from dify_meter.sources.console.concurrency import AdaptiveConcurrency
from dify_meter.sources.console.errors import AppLabel, DifyResponseError, describe_request
from dify_meter.sources.console.models import (
    AccountProfile,
    AgentLogMessagesPage,
    AgentVersion,
    AgentVersionDetail,
    AgentVersions,
    App,
    AppsPage,
    Body,
    ChatConversationDetail,
    ChatConversationsPage,
    CompletionConversationDetail,
    CompletionConversationsPage,
    ListPage,
    MessagesPage,
    NodeExecution,
    NodeExecutions,
    TokenCosts,
    WorkflowAppLogsPage,
    WorkflowTokenCosts,
    Workspace,
    parse_body,
)
from dify_meter.sources.console.transport import ConsoleTransport

CONSOLE_API_PREFIX = "/console/api"
MAX_PAGE_LIMIT = 100  # Dify rejects limit > 100 with 400 invalid_param


PageT = TypeVar("PageT", bound=ListPage)


def console_api_root(base_url: str) -> str:
    """`https://dify.example.com` (or that plus /console/api) -> `https://dify.example.com/console/api`."""
    try:
        root = http_url(base_url)
    except ValueError as error:
        raise ValueError(f"Dify base URL: {error}") from None
    return root if root.endswith(CONSOLE_API_PREFIX) else root + CONSOLE_API_PREFIX


class DifyClient:
    """Give either `api_key` and `workspace_id` (admin API key) or `email` and `password` (service account)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        workspace_id: str | None = None,
        email: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        page_limit: int = MAX_PAGE_LIMIT,
    ) -> None:
        """`page_limit`: items per page of the page-based lists (tests lower it to cross many page boundaries)."""
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        _check_limit(page_limit)
        auth: AdminKeyAuth | PasswordAuth
        if api_key is not None or workspace_id is not None:
            if email is not None or password is not None:
                raise ValueError(
                    "give either DIFY_API_KEY and DIFY_WORKSPACE_ID, or DIFY_EMAIL and DIFY_PASSWORD, not both"
                )
            auth = AdminKeyAuth(api_key or "", workspace_id or "")
        elif email is not None or password is not None:
            auth = PasswordAuth(email or "", password or "")
        else:
            raise ValueError(
                "Dify credentials are missing: give DIFY_API_KEY and DIFY_WORKSPACE_ID (admin API key), "
                "or DIFY_EMAIL and DIFY_PASSWORD (service account)"
            )
        self.base_url = console_api_root(base_url)
        self.max_concurrency = max_concurrency
        self.page_limit = page_limit
        self.auth = auth
        self._transport = ConsoleTransport(
            self.base_url, auth, timeout=timeout, max_concurrency=max_concurrency, retry=retry or DIFY_CONSOLE_RETRY
        )
        self._lock = threading.Lock()
        self._detail_read_count = 0

    def __repr__(self) -> str:
        return f"DifyClient({self.base_url!r}, auth={self.auth!r})"  # never a credential

    def __enter__(self) -> DifyClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, whatever their outcome (retries and login steps included)."""
        return self._transport.sent

    @property
    def retry_count(self) -> int:
        """Requests sent again after a transient failure (429, 5xx, network) so far."""
        return self._transport.retries

    @property
    def detail_read_count(self) -> int:
        """Conversation detail reads so far (each one marks a conversation read in Dify)."""
        with self._lock:
            return self._detail_read_count

    @property
    def concurrency(self) -> AdaptiveConcurrency:
        """The in-flight bound: `limit` now, `lowest_limit` and `peak_in_flight` so far."""
        return self._transport.concurrency

    @property
    def dify_version(self) -> str | None:
        """Dify's version from the X-Version header of its latest answer (None before the first)."""
        return self._transport.dify_version

    # --- every request goes through the transport ------------------------------------------------------

    def _get_json(
        self, endpoint: str, path: str, *, app: AppLabel | None = None, params: dict[str, str | int] | None = None
    ) -> Any:
        return self._transport.call("GET", endpoint, path=path, app=app, params=params, authenticated=True)[1]

    def _get(
        self,
        model: type[Body],
        endpoint: str,
        path: str,
        *,
        app: AppLabel | None = None,
        params: dict[str, str | int] | None = None,
    ) -> Body:
        data = self._get_json(endpoint, path, app=app, params=params)
        return parse_body(model, data, request=describe_request("GET", endpoint, app))

    def _pages(
        self,
        model: type[PageT],
        endpoint: str,
        path: str,
        *,
        app: AppLabel | None,
        params: dict[str, str | int],
        limit: int | None,
    ) -> Iterator[PageT]:
        """Page-based lists (`page`, `limit`, `has_more`), fetched lazily one page at a time."""
        limit = self.page_limit if limit is None else limit
        _check_limit(limit)
        page_number = 1
        while True:
            page = self._get(model, endpoint, path, app=app, params={**params, "page": page_number, "limit": limit})
            yield page
            if not page.has_more:
                return
            if not page.data:
                raise DifyResponseError(
                    f"{describe_request('GET', endpoint, app)}: page {page_number} is empty but says has_more"
                )
            page_number += 1

    # --- endpoints ----------------------------------------------------------------------------------

    def account_profile(self) -> AccountProfile:
        return self._get(AccountProfile, "/account/profile", "/account/profile")

    def current_workspace(self) -> Workspace:
        """The workspace the calls act in (the logged-in account's current one). Dify serves it only on POST."""
        data = self._transport.call("POST", "/workspaces/current", authenticated=True)[1]
        return parse_body(Workspace, data, request="POST /workspaces/current")

    def iter_app_pages(self, *, mode: str = "all", limit: int | None = None) -> Iterator[AppsPage]:
        """`mode=all` is every app but, from 1.16, the agent apps: those are listed with `mode=agent`."""
        yield from self._pages(AppsPage, "/apps", "/apps", app=None, params={"mode": mode}, limit=limit)

    def iter_apps(self, *, limit: int | None = None) -> Iterator[App]:
        for page in self.iter_app_pages(limit=limit):
            yield from page.data

    def app_detail(self, app: App) -> App:
        return self._get(App, "/apps/{id}", f"/apps/{app.id}", app=app.label)

    def iter_chat_conversation_pages(
        self,
        app: App,
        *,
        start: str | None = None,
        end: str | None = None,
        sort_by: str = "-updated_at",
        limit: int | None = None,
    ) -> Iterator[ChatConversationsPage]:
        """`start`/`end` are `YYYY-MM-DD HH:MM` in the account timezone; with `*updated_at` sorting they
        filter `updated_at`."""
        params = _present({"start": start, "end": end, "sort_by": sort_by})
        yield from self._pages(
            ChatConversationsPage,
            "/apps/{id}/chat-conversations",
            f"/apps/{app.id}/chat-conversations",
            app=app.label,
            params=params,
            limit=limit,
        )

    def iter_completion_conversation_pages(
        self,
        app: App,
        *,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
    ) -> Iterator[CompletionConversationsPage]:
        params = _present({"start": start, "end": end})
        yield from self._pages(
            CompletionConversationsPage,
            "/apps/{id}/completion-conversations",
            f"/apps/{app.id}/completion-conversations",
            app=app.label,
            params=params,
            limit=limit,
        )

    def chat_conversation_detail(self, app: App, conversation_id: str) -> ChatConversationDetail:
        """Side effect in Dify: marks the conversation read and moves its `updated_at` to now."""
        with self._lock:
            self._detail_read_count += 1
        return self._get(
            ChatConversationDetail,
            "/apps/{id}/chat-conversations/{conversation_id}",
            f"/apps/{app.id}/chat-conversations/{conversation_id}",
            app=app.label,
        )

    def completion_conversation_detail(self, app: App, conversation_id: str) -> CompletionConversationDetail:
        """Side effect in Dify: marks the conversation read."""
        with self._lock:
            self._detail_read_count += 1
        return self._get(
            CompletionConversationDetail,
            "/apps/{id}/completion-conversations/{conversation_id}",
            f"/apps/{app.id}/completion-conversations/{conversation_id}",
            app=app.label,
        )

    def chat_messages(
        self, app: App, conversation_id: str, *, first_id: str | None = None, limit: int = MAX_PAGE_LIMIT
    ) -> MessagesPage:
        """One page, oldest to newest: the newest `limit` messages older than `first_id` (all if None)."""
        _check_limit(limit)
        params = _present({"conversation_id": conversation_id, "first_id": first_id, "limit": limit})
        return self._get(
            MessagesPage, "/apps/{id}/chat-messages", f"/apps/{app.id}/chat-messages", app=app.label, params=params
        )

    def iter_chat_message_pages(
        self, app: App, conversation_id: str, *, limit: int = MAX_PAGE_LIMIT
    ) -> Iterator[MessagesPage]:
        """Newest page first, then older ones through `first_id = data[0].id` (may skip same-second
        messages at page boundaries: see `dify_meter.sources.console.messages`)."""
        first_id: str | None = None
        while True:
            page = self.chat_messages(app, conversation_id, first_id=first_id, limit=limit)
            yield page
            if not page.has_more or not page.data:
                return
            first_id = page.data[0].id

    def iter_workflow_app_log_pages(
        self, app: App, *, created_at_after: str, created_at_before: str, limit: int | None = None
    ) -> Iterator[WorkflowAppLogsPage]:
        """Both bounds are ISO-8601 UTC and inclusive; the log time is about the run's end."""
        params: dict[str, str | int] = {"created_at__after": created_at_after, "created_at__before": created_at_before}
        yield from self._pages(
            WorkflowAppLogsPage,
            "/apps/{id}/workflow-app-logs",
            f"/apps/{app.id}/workflow-app-logs",
            app=app.label,
            params=params,
            limit=limit,
        )

    def node_executions(self, app: App, workflow_run_id: str) -> list[NodeExecution]:
        return self._get(
            NodeExecutions,
            "/apps/{id}/workflow-runs/{run_id}/node-executions",
            f"/apps/{app.id}/workflow-runs/{workflow_run_id}/node-executions",
            app=app.label,
        ).data

    def iter_agent_log_message_pages(
        self, app: App, agent_id: str, conversation_id: str, *, limit: int | None = None
    ) -> Iterator[AgentLogMessagesPage]:
        """Every message of an agent app's conversation, oldest first. Without a source Dify leaves debugger
        messages out; the sources given are OR-ed and de-duplicated (1.16.1 `list_log_messages`), so these two
        give every message of the conversation."""
        params: dict[str, str | int] = {
            "sources[0]": "webapp",
            "sources[1]": "debugger",
            "sort_by": "created_at",
            "sort_order": "asc",
        }
        yield from self._pages(
            AgentLogMessagesPage,
            "/agent/{id}/logs/{conversation_id}/messages",
            f"/agent/{agent_id}/logs/{conversation_id}/messages",
            app=app.label,
            params=params,
            limit=limit,
        )

    def agent_versions(self, app: App, agent_id: str) -> list[AgentVersion]:
        return self._get(AgentVersions, "/agent/{id}/versions", f"/agent/{agent_id}/versions", app=app.label).data

    def agent_version_detail(self, app: App, agent_id: str, version_id: str) -> AgentVersionDetail:
        return self._get(
            AgentVersionDetail,
            "/agent/{id}/versions/{version_id}",
            f"/agent/{agent_id}/versions/{version_id}",
            app=app.label,
        )

    def token_costs(self, app: App, *, start: str, end: str) -> TokenCosts:
        """Dify's own daily totals of a messages-based app (excludes debugger conversations)."""
        return self._get(
            TokenCosts,
            "/apps/{id}/statistics/token-costs",
            f"/apps/{app.id}/statistics/token-costs",
            app=app.label,
            params={"start": start, "end": end},
        )

    def workflow_token_costs(self, app: App, *, start: str, end: str) -> WorkflowTokenCosts:
        """Dify's own daily tokens of a workflow app (app-run runs only, no price)."""
        return self._get(
            WorkflowTokenCosts,
            "/apps/{id}/workflow/statistics/token-costs",
            f"/apps/{app.id}/workflow/statistics/token-costs",
            app=app.label,
            params={"start": start, "end": end},
        )


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise ValueError(f"page limit must be between 1 and {MAX_PAGE_LIMIT}, got {limit}")


def _present(params: dict[str, str | int | None]) -> dict[str, str | int]:
    return {key: value for key, value in params.items() if value is not None}
