"""Reading every message of a conversation despite `first_id` paging losing same-second messages.

Dify answers `first_id=X` with the newest `limit` messages whose `created_at` is strictly older than
X's second, and orders equal seconds arbitrarily. A page cut by the limit can therefore hide other
messages of its oldest second: the next page starts strictly below that second. The conversation's
`message_count` reveals the loss; the lost messages are then found by re-reading from an overlapping
cursor, the oldest message newer than the cut second, and de-duplicating by id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dify_meter.sources.console.client import MAX_PAGE_LIMIT, DifyClient
from dify_meter.sources.console.models import App, ChatConversation, Message, MessagesPage

FetchPage = Callable[[str | None], MessagesPage]  # first_id (None: newest page) -> page


@dataclass(frozen=True, slots=True)
class MessagesRead:
    messages: list[Message]  # unique by id, oldest first
    expected: int  # the conversation's message_count when it was listed
    recovered: int  # messages found only by re-reading from an overlapping cursor

    @property
    def shortfall(self) -> int:
        return max(0, self.expected - len(self.messages))


def read_all_messages(fetch: FetchPage, *, limit: int, expected: int) -> MessagesRead:
    pages: list[MessagesPage] = []
    by_id: dict[str, Message] = {}
    first_id: str | None = None
    while True:
        page = fetch(first_id)
        pages.append(page)
        by_id.update((message.id, message) for message in page.data)
        if not page.has_more or not page.data or page.data[0].id == first_id:
            break
        first_id = page.data[0].id
    found_by_paging = len(by_id)
    if found_by_paging < expected:
        _recover_cut_seconds(fetch, pages, by_id, limit=limit, expected=expected)
    messages = sorted(by_id.values(), key=lambda message: (message.created_at, message.id))
    return MessagesRead(messages, expected, len(by_id) - found_by_paging)


def _recover_cut_seconds(
    fetch: FetchPage, pages: list[MessagesPage], by_id: dict[str, Message], *, limit: int, expected: int
) -> None:
    # Only a page filled up to the limit can have been cut inside a second; its oldest message marks it.
    cuts = [page.data[0] for page in pages if page.data and len(page.data) >= limit]
    for cut in cuts:
        newer = [message for message in by_id.values() if message.created_at > cut.created_at]
        if not newer:
            continue  # the cut second is the newest one: nothing can overlap it
        overlap = min(newer, key=lambda message: message.created_at)
        by_id.update((message.id, message) for message in fetch(overlap.id).data)
        if len(by_id) >= expected:
            return


def read_conversation_messages(
    client: DifyClient, app: App, conversation: ChatConversation, *, limit: int = MAX_PAGE_LIMIT
) -> MessagesRead:
    def fetch(first_id: str | None) -> MessagesPage:
        return client.chat_messages(app, conversation.id, first_id=first_id, limit=limit)

    return read_all_messages(fetch, limit=limit, expected=conversation.message_count)
