"""Reads calendars for `test_fuzz_busy` in a process of its own, under a memory limit.

One JSON request per line on stdin ({"folder", "file", "zone"}), one JSON answer per
line on stdout: the intervals or the error, the seconds taken, or the exception that
escaped `busy()` (which the test treats as a failure, like a hang or a crash).
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

MEMORY_LIMIT = 1536 * 1024 * 1024  # address space: a runaway expansion dies here
WINDOW = (datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC))


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    from connectors.base import CalendarRef
    from connectors.ics.connector import LocalConnector

    for line in sys.stdin:
        request = json.loads(line)
        folder = Path(request["folder"])
        connector = LocalConnector(folder, folder / "outbox")
        ref = CalendarRef("anna", "anna@example.com", request["file"], request["zone"])
        began = time.perf_counter()
        try:
            answer = connector.busy([ref], *WINDOW)
            reply = {
                "errors": dict(answer.errors),
                "intervals": {
                    person: [[b.start.isoformat(), b.end.isoformat(), str(b.kind)] for b in found]
                    for person, found in answer.intervals.items()
                },
                "warnings": {k: list(v) for k, v in answer.warnings.items()},
            }
        except BaseException:  # reported to the test, which fails on it
            reply = {"exception": traceback.format_exc()}
        reply["seconds"] = time.perf_counter() - began
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
