"""E4 of the 1.16.1 recording: Dify 1.16 reads `end_users.type` through its `EndUserType` enum, so a conversation
list page that serializes an end user of any other type fails as a whole with 400 `invalid_param`
(`11-chat-conversations-enduser-type-web-app-400.json`; 1.14.1 answered 200). The completion list's model name
(`ConversationPagination`) is from source, not recorded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dify_meter.sandbox.dify.queries import ApiError
from dify_meter.sandbox.dify.tables import Conversation, EndUser

if TYPE_CHECKING:
    from dify_meter.sandbox.dify.versions import VersionBehaviour
    from dify_meter.sandbox.dify.workspace import Workspace

DIFY_END_USER_TYPES = ("browser", "mcp", "openapi", "service-api", "trigger")  # `EndUserType` of 1.16.1
CHAT_PAGINATION = "ConversationWithSummaryPagination"
COMPLETION_PAGINATION = "ConversationPagination"
_SOURCE_CLASS = "fields.conversation_fields.ConversationResponseSource"


def check_end_user_types(
    ws: Workspace, conversations: Sequence[Conversation], pagination: str, version: VersionBehaviour
) -> None:
    """Raise Dify's 400 if a conversation of the page comes from an end user whose type 1.16 rejects."""
    if not version.validates_end_user_type:
        return
    invalid = [
        (index, end_user)
        for index, conversation in enumerate(conversations)
        if (end_user := ws.end_users.get(conversation.from_end_user_id or "")) is not None
        and end_user.type not in DIFY_END_USER_TYPES
    ]
    if not invalid:
        return
    count = f"{len(invalid)} validation error{'s' if len(invalid) > 1 else ''} for {pagination}"
    errors = [_error(index, end_user, version) for index, end_user in invalid]
    raise ApiError(400, "invalid_param", "\n".join([count, *errors]))


def _error(index: int, end_user: EndUser, version: VersionBehaviour) -> str:
    # pydantic shows the source object's repr cut to 25 + "..." + 24 characters; its address is this row's
    source = f"<{_SOURCE_CLASS} object at {hex(id(end_user))}>"
    shown = f"{source[:25]}...{source[-24:]}"
    return (
        f"items.{index}.from_end_user_session_id\n"
        f"  Error extracting attribute: ValueError: '{end_user.type}' is not a valid EndUserType "
        f"[type=get_attribute_error, input_value={shown}, input_type=ConversationResponseSource]\n"
        f"    For further information visit {version.pydantic_docs}v/get_attribute_error"
    )
