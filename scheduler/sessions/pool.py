"""Provider calls in parallel on a bounded pool, their results taken in a fixed order.

The cloud clients are blocking and most of a run is spent waiting on the network, so
organisers (and free/busy groups) are served by a few threads at once. What stays on
the caller's thread: every store write. Workers only call the provider and hand back
what it answered; the caller takes the answers in the order the work was given
(`in_order`), so what gets written, and in which order, is the same whatever the
pool size, and a pool of 1 runs everything on the caller's thread, as before.

How many workers: the connector's `workers` option (1..64). Defaults: 16 for Google
and Graph (at 100 ms a request, 8 left a quiet reconcile of 700 organisers at 22 s,
half of it waiting for tokens; 16 took 13 s). Each worker serves whole organisers,
so a mailbox never sees more than one worker's requests and Graph's 4-per-mailbox
lanes hold; Google's quota is per user, and a user is one worker's at a time; a
throttled answer slows the whole pool (connectors/throttle.py). 1 for the local and
CalDAV connectors (files on one disk; CalDAV has its own `concurrency`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Generic, TypeVar

from scheduler.errors import UserError

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", bound=Exception)

DEFAULT_WORKERS = {"google": 16, "outlook": 16}
MAX_WORKERS = 64


def workers_for(name: str, options: Mapping[str, Any] | None) -> int:
    """The pool size for connector `name` from its options (see module doc)."""
    raw = (options or {}).get("workers")
    if raw is None:
        return DEFAULT_WORKERS.get(name, 1)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_WORKERS:
        raise UserError(
            f"connectors: {name}: workers must be a whole number from 1 to {MAX_WORKERS} "
            f"(got {raw!r}); it is how many organisers are served at once"
        )
    return raw


class _Later(Generic[R]):
    """A pool of one: the work runs on the caller's thread when its result is asked."""

    def __init__(self, work: Callable[[], R]) -> None:
        self._work = work

    def result(self) -> R:
        return self._work()


def in_order(
    work: Callable[[T], R], items: Sequence[T], workers: int
) -> Iterator[tuple[T, _Later[R] | Future[R]]]:
    """(item, handle) in the order of `items`; `handle.result()` is `work(item)` or
    raises what it raised, on the caller's thread. Work not yet started when the
    caller stops (an exception, lost leadership) is cancelled, never run."""
    if workers <= 1 or len(items) <= 1:
        for item in items:
            yield item, _Later(partial(work, item))
        return
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="io")
    try:
        futures = [pool.submit(work, item) for item in items]
        yield from zip(items, futures, strict=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ready(handle: _Later[Any] | Future[Any]) -> bool:
    """Whether `handle.result()` answers without waiting. A pool of one does the work
    when asked, so its handles are never ready."""
    return isinstance(handle, Future) and handle.done()


def answered_in_runs(
    pairs: Iterable[tuple[T, _Later[R] | Future[R]]], catch: type[E], limit: int
) -> Iterator[list[tuple[T, R | E]]]:
    """The answers of `in_order`, in its order, cut into runs that the caller records
    one transaction each: a run ends before an answer that is not in yet (so no
    transaction is held open while one is awaited) or at `limit` answers. An answer
    that raised `catch` is given as that exception; anything else raised ends the
    iteration, after the run before it. A pool of one gives runs of one answer each:
    one transaction per answer, as before the pool."""
    run: list[tuple[T, R | E]] = []
    for item, handle in pairs:
        if run and (len(run) >= limit or not _ready(handle)):
            yield run
            run = []
        try:
            run.append((item, handle.result()))
        except catch as exc:
            run.append((item, exc))
        except Exception:
            if run:
                yield run  # what was answered before is still recorded
            raise
    if run:
        yield run
