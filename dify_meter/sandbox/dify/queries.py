"""Query-string models of the console endpoints, and Dify's error bodies.

Dify 1.12.1 validates query strings with pydantic models and answers 400 `invalid_param` with
the text of the `ValidationError`; the model names below are the ones its messages show, so
our messages read the same (the docs link names Dify's pydantic 2.11, as recorded).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal, TypeVar

from dateutil.parser import isoparse  # what Dify parses created_at__before/__after with
from pydantic import BaseModel, Field, ValidationError, field_validator

DIFY_PYDANTIC_DOCS = "https://errors.pydantic.dev/2.11/"
_DOCS = re.compile(r"https://errors\.pydantic\.dev/[0-9.]+/")

Page = Field(default=1, ge=1, le=99999)
Limit = Field(default=20, ge=1, le=100)


class ApiError(Exception):
    """An error response: `{"code", "message", "status"}` as Dify's console API sends it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "status": self.status}


URL_NOT_FOUND = ApiError(
    404,
    "not_found",
    "The requested URL was not found on the server. If you entered the URL manually please check your "
    "spelling and try again.",
)


def not_found(code: str, description: str, path: str, rules: tuple[str, ...]) -> ApiError:
    """A 404 whose message carries flask-restx's "did you mean" hint (the routes close to `path`)."""
    hint = f"You have requested this URI [{path}] but did you mean {' or '.join(rules)} ?"
    return ApiError(404, code, f"{description.rstrip('.')}. {hint}" if rules else description)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


class AppListQuery(BaseModel):
    page: int = Page
    limit: int = Limit
    mode: Literal["completion", "chat", "advanced-chat", "workflow", "agent-chat", "channel", "agent", "all"] = "all"
    name: str | None = None


class WorkspaceListQuery(BaseModel):
    page: int = Page
    limit: int = Limit


class ChatConversationQuery(BaseModel):
    page: int = Page
    limit: int = Limit
    keyword: str | None = None
    start: str | None = None
    end: str | None = None
    annotation_status: Literal["annotated", "not_annotated", "all"] = "all"
    sort_by: Literal["created_at", "-created_at", "updated_at", "-updated_at"] = "-updated_at"


class CompletionConversationQuery(BaseModel):
    page: int = Page
    limit: int = Limit
    keyword: str | None = None
    start: str | None = None
    end: str | None = None
    annotation_status: Literal["annotated", "not_annotated", "all"] = "all"


class ChatMessagesQuery(BaseModel):
    conversation_id: str
    first_id: str | None = None
    limit: int = Limit

    @field_validator("conversation_id", "first_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                uuid.UUID(value)
            except ValueError:
                raise ValueError(f"{value} is not a valid uuid.") from None
        return value


class WorkflowAppLogQuery(BaseModel):
    keyword: str | None = None
    status: Literal["succeeded", "failed", "stopped", "partial-succeeded"] | None = None
    created_at__before: datetime | None = None
    created_at__after: datetime | None = None
    created_by_end_user_session_id: str | None = None
    created_by_account: str | None = None
    detail: bool = False
    page: int = Page
    limit: int = Limit

    @field_validator("created_at__before", "created_at__after", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        return isoparse(value) if isinstance(value, str) and value else None


class WorkflowRunListQuery(BaseModel):
    last_id: str | None = None
    limit: int = Limit
    status: Literal["running", "succeeded", "failed", "stopped", "partial-succeeded"] | None = None
    triggered_from: Literal["debugging", "app-run"] = "debugging"


class StatisticTimeRangeQuery(BaseModel):
    start: str | None = None
    end: str | None = None


Query = TypeVar("Query", bound=BaseModel)


def validate(model: type[Query], args: Any) -> Query:
    try:
        return model.model_validate(args)
    except ValidationError as error:
        raise ApiError(400, "invalid_param", _DOCS.sub(DIFY_PYDANTIC_DOCS, str(error))) from None
