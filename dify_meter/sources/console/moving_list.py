"""Reading Dify's page-based lists (`page`, `limit`, `total`) while Dify keeps changing them.

Dify runs the list's query again for every page, newest first, so a change between two pages
shifts everything after it:
- an item added at the front (a new conversation or app log), or moved there (a conversation that
  got a message while the `-updated_at` list was read), pushes the rest one place down: the last
  item of a page read comes again on the next page (kept once, by id), and the added or moved item
  sits on a page already read: the top is read again, down to items older than the newest seen;
- an item removed (a deleted conversation) pulls the rest one place up: the first item of the next
  page slides onto a page already read and would be skipped. `total` falls when that happens: the
  whole list is read again, until one read sees no item go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from dify_meter.sources.console.errors import DifyResponseError

MAX_FULL_READS = 3


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Item = TypeVar("Item", bound=_Identified)
Item_co = TypeVar("Item_co", bound=_Identified, covariant=True)


class Page(Protocol[Item_co]):
    @property
    def total(self) -> int: ...

    @property
    def data(self) -> Sequence[Item_co]: ...


@dataclass(slots=True)
class _Read:
    pages: int = 0
    first_total: int | None = None
    shrank: bool = False  # an item left the list between two pages
    grew: bool = False  # an item joined it
    newest_on_top: datetime | None = None


def read_moving_list(
    read_pages: Callable[[], Iterable[Page[Item]]],
    *,
    what: str,
    sort_key: Callable[[Item], datetime] | None,
    reorders: bool,
) -> list[Item]:
    """Every item of a newest-first list, once each (the latest version read of it).

    `read_pages()` starts a fresh read at page 1. `sort_key` is the list's order (None: no re-reading
    of the top, for lists where a newcomer cannot matter); `reorders` says items move to the front
    when they change (the `-updated_at` conversation lists)."""
    items: dict[str, Item] = {}
    for _ in range(MAX_FULL_READS):
        read = _read_all(read_pages(), items, sort_key)
        if not read.shrank:
            break
    else:
        raise DifyResponseError(
            f"{what}: items kept disappearing from the list while it was read ({MAX_FULL_READS} times in a row), "
            "so some may have been skipped. Run again when the workspace is calmer."
        )
    if sort_key is not None and read.newest_on_top is not None and (read.grew or (reorders and read.pages > 1)):
        _reread_top(read_pages(), items, sort_key, read.newest_on_top)
    return list(items.values())


def _read_all(
    pages: Iterable[Page[Item]], items: dict[str, Item], sort_key: Callable[[Item], datetime] | None
) -> _Read:
    read = _Read()
    previous_total: int | None = None
    for page in pages:
        read.pages += 1
        if read.first_total is None:
            read.first_total = page.total
            if sort_key is not None and page.data:
                read.newest_on_top = max(sort_key(item) for item in page.data)
        if previous_total is not None:
            read.shrank |= page.total < previous_total
            read.grew |= page.total > previous_total
        previous_total = page.total
        items.update((item.id, item) for item in page.data)
    return read


def _reread_top(
    pages: Iterable[Page[Item]], items: dict[str, Item], sort_key: Callable[[Item], datetime], newest_seen: datetime
) -> None:
    """Read from page 1 down to the first page that reaches below what was the newest item: whatever
    arrived on top while the list was read is above it."""
    for page in pages:
        items.update((item.id, item) for item in page.data)
        if not page.data or sort_key(page.data[-1]) < newest_seen:
            return
