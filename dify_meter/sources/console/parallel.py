"""Bounded thread pools for independent Dify reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor, as_completed
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def parallel_map(fn: Callable[[Item], Result], items: Sequence[Item], *, max_workers: int) -> list[Result]:
    """`[fn(item) for item in items]` on up to `max_workers` threads; the first error cancels the rest."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        futures = [pool.submit(fn, item) for item in items]
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()


def parallel_each(
    fn: Callable[[Item], Result], items: Sequence[Item], *, max_workers: int, on_result: Callable[[Result], None]
) -> None:
    """Run `fn` on threads and hand each result to `on_result` on the calling thread as it arrives.

    On the first error the calls not started yet are cancelled, the running ones still finish and
    reach `on_result` (their side effects happened: keep them), then the error is raised.
    """
    if not items:
        return
    first_error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        futures = [pool.submit(fn, item) for item in items]
        for future in as_completed(futures):
            try:
                result = future.result()
            except CancelledError:
                continue
            except BaseException as error:
                if first_error is None:
                    first_error = error
                    for pending in futures:
                        pending.cancel()
                continue
            try:
                on_result(result)
            except BaseException:
                for pending in futures:
                    pending.cancel()
                raise
    if first_error is not None:
        raise first_error
