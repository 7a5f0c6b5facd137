"""first_id paging loses messages that share the cut second; the count check and an overlapping re-read
recover them. Pages come from a fake with Dify 1.12.1's exact query semantics, fed with recorded messages."""

from __future__ import annotations

import random
from typing import Any

from dify_meter.sources.console.messages import read_all_messages
from dify_meter.sources.console.models import MessagesPage
from dify_meter_tests.support.recorded import body

SAME_SECOND = body("03-chat-messages-same-second-limit100.json")["data"]  # 0e @…400, 10 @…405, 0f @…405


class DifyMessages:
    """`chat-messages` of one conversation as Dify computes it: `created_at < first's created_at`,
    newest first, ties in storage order, `has_more` only if something is strictly older."""

    def __init__(self, messages: list[dict[str, Any]], limit: int) -> None:
        self.messages = messages
        self.limit = limit
        self.requests: list[str | None] = []

    def fetch(self, first_id: str | None) -> MessagesPage:
        self.requests.append(first_id)
        newest_first = sorted(self.messages, key=lambda m: -m["created_at"])  # stable: ties keep storage order
        if first_id is not None:
            first = next(m for m in self.messages if m["id"] == first_id)
            newest_first = [m for m in newest_first if m["created_at"] < first["created_at"] and m["id"] != first_id]
        page = newest_first[: self.limit]
        has_more = len(page) == self.limit and any(m["created_at"] < page[-1]["created_at"] for m in self.messages)
        return MessagesPage.model_validate({"limit": self.limit, "has_more": has_more, "data": page[::-1]})


def messages_at(seconds: list[int]) -> list[dict[str, Any]]:
    template = SAME_SECOND[0]
    return [
        {**template, "id": f"m{index:04d}", "created_at": 1794218400 + second} for index, second in enumerate(seconds)
    ]


def test_the_recorded_conversation_comes_whole_at_limit_100() -> None:
    dify = DifyMessages(list(reversed(SAME_SECOND)), limit=100)
    read = read_all_messages(dify.fetch, limit=100, expected=3)
    assert [m.id[-2:] for m in read.messages] == ["0e", "0f", "10"]
    assert read.shortfall == 0 and read.recovered == 0 and dify.requests == [None]


def test_the_fake_reproduces_the_recorded_skip() -> None:
    # storage order chosen so that the newest-first tie order is the recorded one: 0f, then 10
    dify = DifyMessages([SAME_SECOND[2], SAME_SECOND[1], SAME_SECOND[0]], limit=1)
    first = dify.fetch(None)
    second = dify.fetch(first.data[0].id)
    assert first == MessagesPage.model_validate(body("03-chat-messages-same-second-limit1-page1.json"))
    assert second == MessagesPage.model_validate(body("03-chat-messages-same-second-limit1-page2.json"))
    assert not second.has_more  # message 10 is never returned by plain first_id paging


def test_a_message_hidden_at_a_cut_second_is_recovered() -> None:
    # seconds: A 100, B 200, C 200, D 300; newest-first ties put C before B: page 1 = [C, D] cuts at 200
    a, b, c, d = messages_at([100, 200, 200, 300])
    dify = DifyMessages([a, c, b, d], limit=2)
    read = read_all_messages(dify.fetch, limit=2, expected=4)
    assert [m.id for m in read.messages] == [a["id"], b["id"], c["id"], d["id"]]
    assert read.recovered == 1 and read.shortfall == 0
    assert dify.requests == [None, c["id"], d["id"]]  # plain paging, then one overlapping re-read from D


def test_a_cut_on_the_last_page_is_recovered_although_has_more_is_false() -> None:
    a, b, c = messages_at([100, 100, 200])
    dify = DifyMessages([b, a, c], limit=2)
    read = read_all_messages(dify.fetch, limit=2, expected=3)
    assert {m.id for m in read.messages} == {a["id"], b["id"], c["id"]}
    assert read.recovered == 1


def test_nothing_is_re_read_when_the_count_matches() -> None:
    dify = DifyMessages(messages_at([1, 2, 3, 4, 5]), limit=2)
    read = read_all_messages(dify.fetch, limit=2, expected=5)
    assert len(read.messages) == 5 and read.recovered == 0 and len(dify.requests) == 3


def test_an_unrecoverable_loss_is_reported_as_a_shortfall() -> None:
    # two messages in the newest second and a page of one: no message is newer, nothing can overlap
    dify = DifyMessages([SAME_SECOND[2], SAME_SECOND[1], SAME_SECOND[0]], limit=1)
    read = read_all_messages(dify.fetch, limit=1, expected=3)
    assert read.shortfall == 1 and len(read.messages) == 2


def test_long_conversations_with_same_second_bursts_are_read_whole() -> None:
    # 140 bursts of 3 messages, one second apart: every page of 100 ends inside a burst
    messages = messages_at([second for second in range(140) for _ in range(3)])
    random.Random(7).shuffle(messages)  # storage order decides the order of ties
    dify = DifyMessages(messages, limit=100)
    plain = DifyMessages(messages, limit=100)
    paged = []
    first_id = None
    while True:
        page = plain.fetch(first_id)
        paged += page.data
        if not page.has_more:
            break
        first_id = page.data[0].id
    assert len({m.id for m in paged}) < len(messages)  # plain paging does lose messages here

    read = read_all_messages(dify.fetch, limit=100, expected=len(messages))
    assert sorted(m.id for m in read.messages) == sorted(m["id"] for m in messages)
    assert read.recovered == len(messages) - len({m.id for m in paged})
    assert len(dify.requests) <= len(plain.requests) * 2  # at most one overlapping re-read per cut
