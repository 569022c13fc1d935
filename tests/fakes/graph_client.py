"""Connect an OutlookConnector to a running FakeGraph, for tests and benchmarks."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import CalendarRef, ConnectorContext
from connectors.outlook.connector import OutlookConnector
from tests.fakes.graph_server import FakeGraph

SECRET_ENV = "COACHPASS_TEST_GRAPH_SECRET"


def connect(
    fake: FakeGraph,
    base_dir: Path,
    sleeps: list[float] | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    **options: Any,
) -> OutlookConnector:
    """A connector on the fake; sleeps are recorded in `sleeps`, never waited for."""
    record = sleeps if sleeps is not None else []
    return OutlookConnector(
        fake.options(**options),
        ConnectorContext(base_dir=base_dir),
        transport=fake.transport(),
        sleep=record.append,
        rng=random.Random(7),
        clock=clock or (lambda: datetime.now(UTC)),
    )


def ref(email: str, person_id: str | None = None, zone: str = "Europe/Stockholm") -> CalendarRef:
    return CalendarRef(person_id or email.split("@")[0], email, email, zone)
