"""Booking's store writes alone, at the end-to-end benchmark's size: a month's intents
(`_record_intents`, one transaction per team) and the results of the create calls
(`_apply_created`, one compare-and-set pass per call), without calendars, planner or
network, so the store's share is seen apart from the noise of a whole `book`.

    .venv/bin/python benchmarks/store_writes.py                    # 700 x 15, SQLite
    .venv/bin/python benchmarks/store_writes.py --unit 90          # Graph-sized calls
    .venv/bin/python benchmarks/store_writes.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test

`--unit` is how many sessions one create call answers (Google: one organiser, 15;
Graph: about 80 at organiser boundaries). Each call's results are recorded in a
transaction of their own here (`push_planned` lets calls already answered share
one, which only saves commits). On PostgreSQL the tables go into a schema of their
own, dropped afterwards. Run from an older checkout (per-seller `_record_intent`)
it times that code instead, for a before/after. Prints seconds, commits and
statements per phase; asserts no time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, event

from connectors.base import Outcome, Result
from scheduler.model import Month, Person, SessionState, Team, session_key
from scheduler.sessions import booking
from scheduler.store.store import Store

MONTH = Month(2031, 3)
NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)


def _person(pid: str) -> Person:
    return Person(pid, pid.upper(), f"{pid}@example.com", "Europe/Stockholm", "SE", "google", "")


def _teams(managers: int, sellers: int) -> list[Team]:
    return [
        Team(
            f"t-{m}",
            f"Team {m}",
            _person(f"m{m}"),
            tuple(_person(f"m{m}s{s}") for s in range(sellers)),
        )
        for m in range(managers)
    ]


def _slot(n: int) -> tuple[datetime, datetime]:
    start = datetime(2031, 3, 3, 8, 0, tzinfo=UTC) + timedelta(minutes=55 * (n % 120))
    return start, start + timedelta(minutes=45)


def record_intents(rt: Any, team: Team) -> None:
    """The team's intents through booking's own code (old or new)."""
    if hasattr(booking, "_record_intents"):
        decisions = [
            booking._Decision(s.id, 1, SessionState.PLANNED, *_slot(n))
            for n, s in enumerate(team.sellers)
        ]
        booking._record_intents(rt, team, MONTH, NOW, decisions)
        return
    for n, s in enumerate(team.sellers):  # before: one transaction per seller
        start, end = _slot(n)
        booking._record_intent(  # type: ignore[attr-defined]
            rt,
            team,
            MONTH,
            1,
            NOW,
            seller_id=s.id,
            state=SessionState.PLANNED,
            start=start,
            end=end,
        )


def _counting(store: Store) -> dict[str, int]:
    counts = {"commits": 0, "statements": 0}

    def commit(_conn: Any) -> None:
        counts["commits"] += 1

    def statement(*_args: Any) -> None:
        counts["statements"] += 1

    event.listen(store.engine, "commit", commit)
    event.listen(store.engine, "before_cursor_execute", statement)
    return counts


def run(url: str, managers: int, sellers: int, unit: int) -> None:
    store = Store.open(url)
    rt = SimpleNamespace(org=SimpleNamespace(id="bench"), store=store)
    teams = _teams(managers, sellers)
    counts = _counting(store)
    began = time.perf_counter()
    for team in teams:
        record_intents(rt, team)
    intents_s = time.perf_counter() - began
    intents = dict(counts)
    keys = [session_key("bench", t.manager.id, s.id, MONTH, 1) for t in teams for s in t.sellers]
    records = store.get_many(keys) if hasattr(store, "get_many") else {}
    if not records:
        records = {r.key: r for r in store.sessions(org_id="bench", month=MONTH)}
    items = [(records[k], None) for k in keys]
    counts.update(commits=0, statements=0)
    failed: list[tuple[str, str]] = []
    began = time.perf_counter()
    for at in range(0, len(items), unit):
        call = items[at : at + unit]
        results = [Result(rec.key, Outcome.CREATED, event_id=f"ev-{rec.key}") for rec, _ in call]
        with store.batch():
            booking._apply_created(rt, "google", call, results, NOW, failed)  # type: ignore[arg-type]
    results_s = time.perf_counter() - began
    booked = sum(
        1 for r in store.sessions(org_id="bench", month=MONTH) if r.state is SessionState.BOOKED
    )
    store.close()
    n = len(keys)
    print(f"{managers} x {sellers} = {n} sessions, {unit} per create call, {url.split(':')[0]}")
    print(f"{'phase':10} {'seconds':>8} {'ms/session':>11} {'commits':>8} {'statements':>11}")
    for phase, seconds, seen in (("intents", intents_s, intents), ("results", results_s, counts)):
        print(
            f"{phase:10} {seconds:8.2f} {1000 * seconds / n:11.3f} "
            f"{seen['commits']:8d} {seen['statements']:11d}"
        )
    print(f"booked: {booked}, failed: {len(failed)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--managers", type=int, default=700)
    parser.add_argument("--sellers", type=int, default=15)
    parser.add_argument("--unit", type=int, default=15, help="sessions per create call")
    parser.add_argument("--url", default=None, help="a PostgreSQL URL (default: a new SQLite file)")
    args = parser.parse_args()
    if args.url is None:
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{folder}/coachpass.db", args.managers, args.sellers, args.unit)
        return
    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = create_engine(args.url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        run(f"{args.url}?options=-csearch_path%3D{schema}", args.managers, args.sellers, args.unit)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
