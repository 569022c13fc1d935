"""One coaching month through the whole pipeline, at growing organisation sizes.

Generates organisations like the demo's (teams of 12–15 sellers with realistic ICS
calendars) with `--copies` × 3 teams, then times each stage on the local connector
and the SQLite store: booking (busy read, planning, intents, events, invitations), a
second booking (idempotent: nothing created), a reconcile with no changes, one after
the month ended (everything settles), and building the KPI report. Prints figures
and per-seller costs; never asserts a time (machines here are shared and noisy).

    .venv/bin/python benchmarks/month.py                 # 1, 3, 10 copies (3–30 teams)
    .venv/bin/python benchmarks/month.py --copies 1 3    # choose the sizes
    .venv/bin/python benchmarks/month.py --copies 1 25 --repeat 3   # best of 3 (1,000 sellers)

Imports (OR-Tools, pandas: about a second) are done before the clock starts and
printed apart: they are the process's start-up, not booking. Of the booking, the
time spent inside the local connector is shown too: reading calendars (`busy`) and
writing sessions, copies and invitations (`create`); then the planner (`plan_s`,
wall time; it works in other processes) and rendering the agendas (`agenda_s`).
What is left of `book_s` is mostly the store (intents, results, history). On a
shared machine the wall time varies a lot between runs; `--repeat` keeps each
size's fastest run, and `book_cpu_s` is the booking's CPU time in this process
(the planner's worker processes apart: `plan_cpu_s`), which varies less.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.ics.connector import LocalConnector
from scheduler.demo.data import generate
from scheduler.model import Month
from scheduler.runtime import Runtime
from scheduler.service.jobs import build_month_report
from scheduler.sessions import booking
from scheduler.sessions.booking import book_month
from scheduler.sessions.reconcile import reconcile
from scheduler.settings.load import load_settings

MONTH = Month(2031, 3)
_began = time.perf_counter()
import scheduler.planning.planner as planner  # noqa: E402  (OR-Tools: start-up, not booking)

IMPORTS_S = time.perf_counter() - _began


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


#: What `StageClock` times: (label, owner, attribute) called by the booking.
STAGES = [
    ("busy", LocalConnector, "busy"),
    ("create", LocalConnector, "create"),
    ("plan", planner, "plan_teams"),  # looked up on the module when planning
    ("agenda", booking, "render_agenda"),
]


class StageClock:
    """Seconds spent inside the local connector's `busy` and `create`, the planner
    and the agenda rendering (see `STAGES`)."""

    def __init__(self) -> None:
        self.seconds = {label: 0.0 for label, _owner, _name in STAGES}

    def __enter__(self) -> StageClock:
        self.saved = [(owner, name, getattr(owner, name)) for _label, owner, name in STAGES]
        for (label, owner, name), (_, _, method) in zip(STAGES, self.saved, strict=True):
            setattr(owner, name, self._timed(label, method))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, method in self.saved:
            setattr(owner, name, method)

    def _timed(self, label, method):  # type: ignore[no-untyped-def]
        def timed_method(*args, **kwargs):  # type: ignore[no-untyped-def]
            began = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - began

        return timed_method


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the planner's pool)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(copies: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _, t_gen = timed(lambda: generate(folder, MONTH, seed=11, copies=copies))
        rt = Runtime.open(load_settings(folder / "coachpass.yaml"))
        try:
            sellers = sum(len(t.sellers) for t in rt.org.teams)
            t0 = datetime.combine(MONTH.first_day - timedelta(days=10), dtime(7), UTC)
            cpu = time.process_time()
            children = _children_cpu()
            with StageClock() as inside:
                first, t_book = timed(lambda: book_month(rt, MONTH, t0))
            cpu = time.process_time() - cpu
            children = _children_cpu() - children
            again, t_again = timed(lambda: book_month(rt, MONTH, t0 + timedelta(hours=1)))
            _, t_rec0 = timed(lambda: reconcile(rt, t0 + timedelta(hours=2)))
            _, t_rec1 = timed(lambda: reconcile(rt, t0 + timedelta(hours=3)))
            end = datetime.combine(MONTH.last_day + timedelta(days=1), dtime(6), UTC)
            settled, t_end = timed(lambda: reconcile(rt, end))
            _, t_rep = timed(lambda: build_month_report(rt, MONTH, end, ["x@example.com"]))
        finally:
            rt.close()
        assert again.created == 0, "second booking must create nothing"
        return {
            "teams": len(rt.org.teams),
            "sellers": sellers,
            "booked": first.created,
            "unbookable": len(first.unbookable),
            "generate_s": t_gen,
            "book_s": t_book,
            "book_cpu_s": cpu,
            "plan_cpu_s": children,
            "busy_s": inside.seconds["busy"],
            "create_s": inside.seconds["create"],
            "plan_s": inside.seconds["plan"],
            "agenda_s": inside.seconds["agenda"],
            "book_again_s": t_again,
            "reconcile_first_s": t_rec0,
            "reconcile_quiet_s": t_rec1,
            "reconcile_settle_s": t_end,
            "settled": len(settled.transitions),
            "report_s": t_rep,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the fastest is shown")
    args = parser.parse_args()
    print(f"imports before the clock: {IMPORTS_S:.2f} s (OR-Tools and what it loads)")
    cols = [
        "teams",
        "sellers",
        "booked",
        "unbookable",
        "book_s",
        "book_cpu_s",
        "plan_cpu_s",
        "busy_s",
        "create_s",
        "plan_s",
        "agenda_s",
        "book_again_s",
        "reconcile_first_s",
        "reconcile_quiet_s",
        "reconcile_settle_s",
        "report_s",
    ]
    print("  ".join(f"{c:>18}" for c in cols))
    rows = []
    for copies in args.copies:
        row = min((run(copies) for _ in range(max(1, args.repeat))), key=lambda r: r["book_s"])
        rows.append(row)
        print(
            "  ".join(
                f"{row[c]:>18.2f}" if isinstance(row[c], float) else f"{row[c]:>18}" for c in cols
            ),
            flush=True,
        )
    print(
        "\nper seller (ms): book (of which reading calendars, writing, planning, agendas, "
        "the rest: mostly the store), book again, quiet reconcile"
    )
    for row in rows:
        n = row["sellers"]
        parts = [row[c] for c in ("busy_s", "create_s", "plan_s", "agenda_s")]
        split = ", ".join(f"{1000 * t / n:.1f}" for t in [*parts, row["book_s"] - sum(parts)])
        print(
            f"  {n:>5} sellers: {1000 * row['book_s'] / n:7.1f} ({split})  "
            f"{1000 * row['book_again_s'] / n:7.1f}  {1000 * row['reconcile_quiet_s'] / n:7.1f}"
        )
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        growth = (b["book_s"] / a["book_s"]) / (b["sellers"] / a["sellers"])
        print(
            f"booking time grows {growth:.2f}x as fast as the organisation "
            f"({a['sellers']} -> {b['sellers']} sellers; 1.00 = linear)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MiB (planner pool workers not counted)")


if __name__ == "__main__":
    main()
