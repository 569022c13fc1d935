"""The invariant machine (tests/invariant/machine.py) on every back end.

Budgets: the four machines together stay under a minute in the suite, and are still
enough to reach the paths that matter (moved beyond the window, then a full read
after a cursor expired or the month rolled over). `COACHPASS_INVARIANT_EXAMPLES` and
`COACHPASS_INVARIANT_STEPS` raise the numbers of examples and steps for a longer hunt.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle
from tests.fakes.radicale_server import RadicaleServer, running_radicale
from tests.invariant.backends import caldav_world, google_world, graph_world, local_world
from tests.invariant.machine import REACHED, CalendarMachine
from tests.invariant.worlds import World

EXAMPLES = int(os.environ.get("COACHPASS_INVARIANT_EXAMPLES", "3"))
STEPS = int(os.environ.get("COACHPASS_INVARIANT_STEPS", "10"))
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
SHRINK = (*NO_SHRINK, Phase.shrink)


def hunt(make_world: Callable[[], World], examples: int = EXAMPLES) -> None:
    REACHED.clear()
    machine = type("Machine", (CalendarMachine,), {"make_world": staticmethod(make_world)})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same hunt on every run: a failure replays as it is
            database=None,
            # No `explain` phase: its tracing made a failing run take minutes.
            phases=SHRINK if os.environ.get("COACHPASS_INVARIANT_SHRINK") else NO_SHRINK,
        ),
    )
    # The budget must still reach the paths the machine exists for.
    for path in ("moved beyond the window", "full read with a session beyond the window"):
        assert REACHED[path], f"the hunt never reached: {path} (reached {dict(REACHED)})"
    assert REACHED["cursor expired"] and REACHED["month rollover"], dict(REACHED)


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    with running_radicale(tmp_path_factory.mktemp("radicale")) as server:
        yield server


def test_local_calendars_keep_the_invariant() -> None:
    hunt(local_world)


def test_caldav_calendars_keep_the_invariant(radicale: RadicaleServer) -> None:
    # Every step goes through Radicale's real storage: one example fewer.
    hunt(lambda: caldav_world(radicale), max(1, EXAMPLES - 1))


def test_google_calendars_keep_the_invariant(
    google_fake: FakeGoogle,  # noqa: F811
    google_key_file: Path,  # noqa: F811
) -> None:
    hunt(lambda: google_world(google_fake, google_key_file))


def test_graph_calendars_keep_the_invariant() -> None:
    hunt(graph_world)
