"""Planner workers must not outlive a killed `book` (found by benchmarks/faults.py):
forked workers inherit the booking lock, and orphans kept it forever, so every
later `book` waited 15 minutes and failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import os, sys, time
from scheduler.planning import planner

def slow(index):
    with open(sys.argv[1], "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    time.sleep(120)

planner._plan_shared = slow
planner.plan_team = slow
planner.plan_teams([object(), object(), object(), object()], workers=2)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


def test_workers_exit_when_the_planning_process_is_killed(tmp_path: Path) -> None:
    pids_file = tmp_path / "workers"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(pids_file)])
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.05)
        if pids_file.exists():
            workers = [int(x) for x in pids_file.read_text().split()]
    assert len(workers) == 2, "both workers started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.05)
    alive = [p for p in workers if _alive(p)]
    for pid in alive:  # do not leave them behind if the test fails
        os.kill(pid, signal.SIGKILL)
    assert alive == [], "orphaned planner workers outlived the killed process"
