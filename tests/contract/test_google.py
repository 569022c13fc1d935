"""The connector contract suite run against the Google connector and the fake API.

The connector is the real one (googleapiclient over HTTP, google-auth fetching a
delegated service-account token from the fake's token endpoint); pages hold two
events so every read crosses page boundaries.
"""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

import pytest

from connectors.base import BusyKind
from tests.contract.suite import ConnectorContract, at, covers, read_busy
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    GoogleHarness,
    fake,
    google_fake,
    google_harness,
    google_key_file,
)


@pytest.fixture
def harness(google_harness: GoogleHarness) -> GoogleHarness:
    return google_harness


class TestGoogleContract(ConnectorContract):
    def test_busy_kinds_out_of_office_and_tentative(self, harness: GoogleHarness) -> None:
        """Google's freeBusy reports busy spans only, without kinds (and reading each
        person's events to tell them apart would need wider scopes and a request per
        person). Out-of-office and tentative time must still never come back free."""
        harness.add_busy("seller1", at(10, 0), at(12, 0), kind=BusyKind.OOF, summary="Holiday")
        harness.add_busy("seller1", at(13, 14), at(13, 15), kind=BusyKind.TENTATIVE)
        intervals = read_busy(harness, ["seller1"]).intervals["seller1"]
        assert covers(intervals, at(10, 0), at(12, 0), BusyKind.BUSY)
        assert covers(intervals, at(13, 14), at(13, 15), BusyKind.BUSY)
