"""Time and peak memory of the local connector's `busy()` for hostile and big calendars.

    .venv/bin/python benchmarks/ics_busy.py                 # this checkout
    .venv/bin/python benchmarks/ics_busy.py --code DIR      # another checkout's code, e.g.
        git archive <commit> connectors | tar -x -C /tmp/before  ->  --code /tmp/before

Each case is one calendar for one person and the window March 2031, read in a fresh
child process (so the peak RSS is that read's, plus the interpreter's baseline shown
on the first line), stopped after --timeout seconds and at --memory-mb of address
space. "first" is a cold read (scan + parse), "again" the same read with the file
unchanged (what a running service does every cycle).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//bench//EN\r\n"
TAIL = "END:VCALENDAR\r\n"
ROOT = Path(__file__).resolve().parents[1]


def series(rule: str, start: str = "20200101T000000Z", duration: str = "PT1M") -> str:
    return (
        HEAD + "BEGIN:VEVENT\r\nUID:hostile@bench\r\nDTSTAMP:20200101T000000Z\r\n"
        f"DTSTART:{start}\r\nDURATION:{duration}\r\nRRULE:{rule}\r\nEND:VEVENT\r\n" + TAIL
    )


def many(count: int, pad: int = 0) -> str:
    """`count` events over ten years (2026-2035), one in 50 a weekly series for a year;
    `pad` bytes of DESCRIPTION each (real exports carry notes and HTML bodies)."""
    parts = [HEAD]
    description = "DESCRIPTION:" + "x" * pad + "\r\n" if pad else ""
    for i in range(count):
        day = i * 3650 // count
        year, rest = 2026 + day // 365, day % 365
        month, mday = 1 + rest // 31 % 12, 1 + rest % 28
        hour = 8 + i % 9
        stamp = f"{year}{month:02d}{mday:02d}T{hour:02d}0000Z"
        end = f"{year}{month:02d}{mday:02d}T{hour:02d}4500Z"
        rule = f"RRULE:FREQ=WEEKLY;UNTIL={year + 1}{month:02d}{mday:02d}T000000Z\r\n"
        parts.append(
            f"BEGIN:VEVENT\r\nUID:e{i}@bench\r\nDTSTAMP:20250101T000000Z\r\n"
            f"DTSTART:{stamp}\r\nDTEND:{end}\r\nSUMMARY:Meeting {i}\r\n{description}"
            f"{rule if i % 50 == 0 else ''}END:VEVENT\r\n"
        )
    parts.append(TAIL)
    return "".join(parts)


def fifty_mb() -> str:
    # 90k events of ~555 bytes: 50 MB (10^6 bytes), under the default max_file_mb 50 (MiB).
    text = many(90_000, pad=400)
    return text


CASES: dict[str, Callable[[], str]] = {
    "SECONDLY since 2020, no end": lambda: series("FREQ=SECONDLY", duration="PT1S"),
    "MINUTELY since 2020, no end": lambda: series("FREQ=MINUTELY"),
    "MINUTELY;INTERVAL=15 since 2020": lambda: series("FREQ=MINUTELY;INTERVAL=15"),
    "DAILY;BYMONTH=2;BYMONTHDAY=30 (matches nothing)": lambda: series(
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", duration="PT30M"
    ),
    "10k events": lambda: many(10_000),
    "100k events": lambda: many(100_000),
    "50 MB file (90k events with notes)": fifty_mb,
}

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    limit = int(sys.argv[3]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from connectors.base import CalendarRef
    from connectors.ics.connector import LocalConnector
    folder = Path(sys.argv[1])
    connector = LocalConnector(folder, folder / "outbox")
    ref = CalendarRef("p", "p@bench", sys.argv[2], "Europe/Stockholm")
    window = (datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC))
    times = []
    if sys.argv[2] != "-":
        for _ in range(2):
            began = time.perf_counter()
            answer = connector.busy([ref], *window)
            times.append(time.perf_counter() - began)
        found = answer.intervals.get("p")
        outcome = f"{len(found)} intervals" if found is not None else answer.errors["p"]
    else:
        outcome = "baseline"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times": times, "rss": rss, "outcome": outcome}))
    """
)


def run(code: Path, folder: Path, file: str, timeout: float, memory_mb: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(folder), file, str(memory_mb)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=code,  # `python -c` puts the working folder first on sys.path
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"times": [], "rss": None, "outcome": f"stopped after {timeout:g} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"times": [], "rss": None, "outcome": f"crashed: {last[:90]}"}
    answer: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose code to run")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    parser.add_argument("--memory-mb", type=int, default=3072, help="address space per case")
    parser.add_argument("--only", help="run the cases whose name contains this")
    options = parser.parse_args()
    print(f"code: {options.code}  load average: {os.getloadavg()[0]:.1f}  cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = run(options.code, folder, "-", options.timeout, options.memory_mb)
        print(f"{'interpreter + imports':48} {'':>8} {'':>8} {base['rss']:7.0f} MB")
        print(f"{'case':48} {'first':>8} {'again':>8} {'peak RSS':>10}  outcome")
        for n, (name, make) in enumerate(CASES.items()):
            if options.only and options.only not in name:
                continue
            file = f"case{n}.ics"
            text = make()
            (folder / file).write_text(text)
            size = len(text.encode()) / 1e6
            answer = run(options.code, folder, file, options.timeout, options.memory_mb)
            times = [f"{t:7.2f}s" for t in answer["times"]] + ["      -"] * 2
            rss = f"{answer['rss']:7.0f} MB" if answer["rss"] else "      -"
            outcome = " ".join(str(answer["outcome"]).split())
            print(
                f"{name + f' ({size:.1f} MB)':48} {times[0]:>8} {times[1]:>8} {rss:>10}  "
                f"{outcome[:110]}",
                flush=True,
            )
            (folder / file).unlink()


if __name__ == "__main__":
    main()
