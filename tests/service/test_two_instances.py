"""Two instances (the service and an admin's CLI, or two service replicas) booking and
reconciling the same month at once: every seller once, no event twice, no overlap."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from pathlib import Path

from scheduler.model import Month, SessionState
from scheduler.runtime import Runtime
from scheduler.sessions.booking import BookingSummary, book_month
from scheduler.sessions.reconcile import reconcile
from scheduler.settings.load import load_settings
from tests.orgs import count_tagged, write_org

MONTH = Month(2031, 3)
NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)


def test_concurrent_booking_books_each_seller_once(store_url: str, tmp_path: Path) -> None:
    config = write_org(tmp_path, sellers=6, store_url=store_url)
    runtimes = [Runtime.open(load_settings(config)) for _ in range(3)]
    results: list[BookingSummary] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(runtimes))

    def run(rt: Runtime) -> None:
        try:
            barrier.wait()
            results.append(book_month(rt, MONTH, NOW))
        except BaseException as exc:  # reported below; a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(rt,)) for rt in runtimes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        assert sum(r.created for r in results) == 6
        sessions = runtimes[0].store.sessions(month=MONTH)
        assert len(sessions) == 6 and {s.state for s in sessions} == {SessionState.BOOKED}
        cal = tmp_path / "calendars" / "boss.ics"
        assert all(count_tagged(cal, s.key) == 1 for s in sessions)
        spans = sorted((s.start, s.end) for s in sessions if s.start and s.end)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, "the manager's sessions never overlap"

        # Two reconciles at once: each change is recorded once.
        later = datetime(2031, 4, 1, 6, 0, tzinfo=UTC)
        threads = [threading.Thread(target=reconcile, args=(rt, later)) for rt in runtimes[:2]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        history = runtimes[0].store.history(month=MONTH)
        held = [h for h in history if h.to_state is SessionState.HELD]
        assert len(held) == 6
    finally:
        for rt in runtimes:
            rt.close()
