"""read_moving_list against an in-memory page-based list that changes between two page reads, as Dify's do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from dify_meter.sources.console.errors import DifyResponseError
from dify_meter.sources.console.moving_list import MAX_FULL_READS, read_moving_list

T0 = datetime(2026, 11, 10, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    id: str
    at: datetime


@dataclass(frozen=True)
class Page:
    total: int
    data: list[Item]
    has_more: bool


class MovingList:
    """Newest first, `limit` per page, each page computed when it is read; `between` runs after each page."""

    def __init__(self, count: int, limit: int) -> None:
        self.items = {f"i{n:03}": Item(f"i{n:03}", T0 + timedelta(minutes=n)) for n in range(count)}
        self.limit = limit
        self.reads: list[int] = []  # page numbers, in read order
        self.between: Callable[[int], None] = lambda page: None

    def ordered(self) -> list[Item]:
        return sorted(self.items.values(), key=lambda item: item.at, reverse=True)

    def pages(self) -> Iterator[Page]:
        number = 1
        while True:
            ordered = self.ordered()
            chunk = ordered[(number - 1) * self.limit : number * self.limit]
            self.reads.append(number)
            page = Page(len(ordered), chunk, number * self.limit < len(ordered))
            yield page
            self.between(number)
            if not page.has_more:
                return
            number += 1

    def move_to_front(self, item_id: str, minutes: int = 1000) -> None:
        self.items[item_id] = Item(item_id, T0 + timedelta(minutes=minutes))


def read(moving: MovingList, *, reorders: bool) -> list[Item]:
    return read_moving_list(moving.pages, what="GET /things", sort_key=lambda item: item.at, reorders=reorders)


def test_a_still_list_is_read_once_when_nothing_reorders_it() -> None:
    moving = MovingList(10, 3)
    assert {item.id for item in read(moving, reorders=False)} == set(moving.items)
    assert moving.reads == [1, 2, 3, 4]


def test_an_item_that_jumps_from_an_unread_page_to_the_top_is_found_by_rereading_the_top() -> None:
    moving = MovingList(10, 3)
    moving.between = lambda page: moving.move_to_front("i000") if page == 1 and moving.reads == [1] else None
    items = read(moving, reorders=True)
    assert sorted(item.id for item in items) == sorted(moving.items)  # once each
    assert next(item for item in items if item.id == "i000").at == T0 + timedelta(minutes=1000)  # latest version
    assert moving.reads == [1, 2, 3, 4, 1]  # the top page again: it ends below the newest item seen


def test_new_items_at_the_front_are_found_when_total_grows() -> None:
    moving = MovingList(10, 3)

    def arrive(page: int) -> None:
        if page == 2 and len(moving.reads) == 2:
            moving.items["new"] = Item("new", T0 + timedelta(minutes=500))

    moving.between = arrive
    ids = [item.id for item in read(moving, reorders=False)]
    assert sorted(ids) == sorted(moving.items) and len(ids) == 11
    assert moving.reads == [1, 2, 3, 4, 1]


def test_a_deleted_item_that_would_make_the_next_page_skip_one_triggers_a_full_reread() -> None:
    moving = MovingList(10, 3)
    skipped_without_reread = moving.ordered()[3].id  # the first of page 2 slides onto page 1

    def delete(page: int) -> None:
        if page == 1 and moving.reads == [1]:
            del moving.items[moving.ordered()[0].id]

    moving.between = delete
    ids = {item.id for item in read(moving, reorders=False)}
    assert skipped_without_reread in ids and set(moving.items) <= ids
    assert moving.reads == [1, 2, 3, 1, 2, 3]  # 9 items after the deletion: read again in full


def test_a_list_that_loses_items_in_every_read_is_an_error_not_a_silent_gap() -> None:
    moving = MovingList(30, 3)
    moving.between = lambda page: moving.items.pop(moving.ordered()[0].id) if page == 1 else None
    with pytest.raises(DifyResponseError, match=f"GET /things: items kept disappearing .*{MAX_FULL_READS} times"):
        read(moving, reorders=False)
