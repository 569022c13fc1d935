"""Mutated and hostile .ics files fed to `busy()`: every answer is either intervals
that make sense or an error for that one person; never an exception, a hang or a
runaway in memory.

`busy()` runs in a worker process (`fuzz_worker.py`) with its address space limited,
so a runaway expansion ends as a MemoryError reported back, not as a swapping test
machine; a call that does not answer within HANG_SECONDS is a hang. (The seconds are
not a performance check: figures are in benchmarks/ics_busy.py.)
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIXTURES = Path(__file__).parent / "fixtures"
WORKER = Path(__file__).parent / "fuzz_worker.py"
HANG_SECONDS = 30.0
START, END = datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC)
SEEDS = [
    (FIXTURES / name).read_bytes()
    for name in (
        "recurring.ics",
        "dst_weekly.ics",
        "allday.ics",
        "outlook.ics",
        "free_states.ics",
        "custom_zone_plus1.ics",
        "clip_merge.ics",
    )
]
HOSTILE_RULES = [
    b"RRULE:FREQ=SECONDLY",
    b"RRULE:FREQ=MINUTELY",
    b"RRULE:FREQ=MINUTELY;COUNT=1000000000",
    b"RRULE:FREQ=SECONDLY;COUNT=999999999;BYHOUR=9",
    b"RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    b"RRULE:FREQ=YEARLY;COUNT=2147483647;BYYEARDAY=366",
    b"RRULE:FREQ=FORTNIGHTLY",
    b"RRULE:FREQ=WEEKLY;INTERVAL=0",
    b"RRULE:FREQ=HOURLY;INTERVAL=1;UNTIL=99991231T235959Z",
    b"RRULE:FREQ=MONTHLY;BYSETPOS=400;BYDAY=MO",
]
HOSTILE_STARTS = [b"DTSTART:00010101T000000Z", b"DTSTART:20200101T000000Z", b"DTSTART:99991231"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        lines = data.split(b"\n")
        op = draw(
            st.sampled_from(
                ["truncate", "bytes", "delete", "shuffle", "duplicate", "rule", "start"]
            )
        )
        if op == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "bytes":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.binary(min_size=1, max_size=40)) + data[at:]
        elif op == "delete":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + data[at + draw(st.integers(1, 200)) :]
        elif op == "shuffle":
            data = b"\n".join(draw(st.permutations(lines)))
        elif op == "duplicate":
            at = draw(st.integers(0, len(lines) - 1))
            data = b"\n".join([*lines[:at], lines[at], *lines[at:]])
        else:
            # Put a hostile rule or start into the first VEVENT (or anywhere).
            new = draw(st.sampled_from(HOSTILE_RULES if op == "rule" else HOSTILE_STARTS))
            name = b"RRULE" if op == "rule" else b"DTSTART"
            at = next((i for i, line in enumerate(lines) if line.startswith(name)), None)
            if at is None:
                at = next((i + 1 for i, line in enumerate(lines) if b"BEGIN:VEVENT" in line), 0)
                lines.insert(at, new + b"\r")
            else:
                lines[at] = new + b"\r"
            data = b"\n".join(lines)
    return data


class Worker:
    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.selector = selectors.DefaultSelector()
        assert self.process.stdout is not None
        self.selector.register(self.process.stdout, selectors.EVENT_READ)

    def busy(self, folder: Path, file: str, zone: str) -> dict[str, Any]:
        if self.process.poll() is not None:  # an earlier example killed it: start anew
            self.__init__()  # type: ignore[misc]
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"folder": str(folder), "file": file, "zone": zone}))
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        if not self.selector.select(timeout=HANG_SECONDS):
            self.close()
            pytest.fail(f"busy() did not answer within {HANG_SECONDS} s for {folder / file}")
        line = self.process.stdout.readline()
        if not line:
            pytest.fail(f"the worker died (exit {self.process.wait()}) on {folder / file}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    started = Worker()
    yield started
    started.close()


def check(answer: dict[str, Any], data: bytes) -> None:
    assert "exception" not in answer, answer["exception"] + f"\ninput: {data!r}"
    errors, intervals = answer["errors"], answer["intervals"]
    assert set(errors) | set(intervals) == {"anna"} and len(errors) + len(intervals) == 1
    if errors:
        assert errors["anna"].startswith("calendar of anna (anna@example.com): ")
        assert "Traceback" not in errors["anna"]
        assert "an unexpected" not in errors["anna"], f"a bug caught by the fallback: {data!r}"
        assert len(errors["anna"]) < 1000  # a message, not an echo of the file
        return
    found = [
        (datetime.fromisoformat(s), datetime.fromisoformat(e), k) for s, e, k in intervals["anna"]
    ]
    for start, end, _ in found:
        assert start.utcoffset() is not None and end.utcoffset() is not None
        assert START <= start < end <= END
    assert found == sorted(
        found, key=lambda b: (b[0], ["busy", "tentative", "oof"].index(b[2]), b[1])
    )


@settings(
    max_examples=int(os.environ.get("COACHPASS_FUZZ_EXAMPLES", "120")),  # more: a longer hunt
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=mutated(), zone=st.sampled_from(["UTC", "Europe/Stockholm", "Pacific/Kiritimati"]))
def test_mutated_calendars_give_intervals_or_an_error(
    worker: Worker, tmp_path_factory: pytest.TempPathFactory, data: bytes, zone: str
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "anna.ics").write_bytes(data)
    check(worker.busy(folder, "anna.ics", zone), data)


@pytest.mark.parametrize("rule", HOSTILE_RULES)
@pytest.mark.parametrize("start", HOSTILE_STARTS)
def test_every_hostile_rule_and_start(
    worker: Worker, tmp_path: Path, rule: bytes, start: bytes
) -> None:
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:h@x\r\n"
        + start
        + b"\r\nDURATION:PT30M\r\n"
        + rule
        + b"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (tmp_path / "anna.ics").write_bytes(data)
    check(worker.busy(tmp_path, "anna.ics", "UTC"), data)
