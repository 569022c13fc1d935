"""The `caldav` connector when the network or the server misbehaves: lost answers,
throttling, failing servers, write races, truncated sync reports, and servers that
leave the data out of them. Faults come from a `FaultyTransport` in front of a real
Radicale; the connector's waits are recorded instead of slept."""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from connectors.base import ChangeAction, EventChange, Outcome, Response
from tests.connectors.caldav.test_connector import Faulty, is_put
from tests.contract.suite import WINDOW_END, WINDOW_START, at, session
from tests.contract.test_caldav import PASSWORD_ENV, SERVICE_USER, CaldavHarness, harness, radicale  # noqa: F401  (fixtures)
from tests.fakes.radicale_server import Hook

# The Radicale server and the contract harness are shared with the contract suite.


def test_throttled_busy_read_waits_as_told_then_succeeds(harness: CaldavHarness) -> None:
    harness.add_busy("seller1", at(4, 10), at(4, 11))
    faulty = Faulty(harness)

    def throttle(request: httpx.Request, _: httpx.Response | None) -> httpx.Response | None:
        if request.method == "REPORT":
            return httpx.Response(503, headers={"Retry-After": "7"})
        return None

    later = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")

    def too_many(request: httpx.Request, _: httpx.Response | None) -> httpx.Response | None:
        if request.method == "REPORT":
            return httpx.Response(429, headers={"Retry-After": later})
        return None

    faulty.transport.before += [throttle, too_many]
    answer = faulty.connector.busy([harness.ref("seller1")], WINDOW_START, WINDOW_END)
    assert not answer.errors
    assert answer.intervals["seller1"][0].start == at(4, 10)
    assert faulty.waits[0] == 7.0
    assert 20.0 < faulty.waits[1] <= 30.0  # an HTTP date is turned into seconds from now


def test_server_failing_throughout_is_an_error_entry(harness: CaldavHarness) -> None:
    faulty = Faulty(harness)
    failing: Hook = lambda request, _: httpx.Response(502)  # noqa: E731
    faulty.transport.before += [failing] * 10
    answer = faulty.connector.busy([harness.ref("seller1")], WINDOW_START, WINDOW_END)
    assert "seller1" in answer.errors and "502" in answer.errors["seller1"]
    assert len(faulty.waits) == 3  # max_attempts 4: three waits, growing
    assert faulty.waits[0] < faulty.waits[2]


def test_create_whose_answer_was_lost_is_created_once(harness: CaldavHarness) -> None:
    faulty = Faulty(harness)
    lost: Hook = lambda request, response: (  # noqa: E731
        httpx.ReadError("connection reset") if is_put(request) else None
    )
    faulty.transport.after.append(lost)
    event = session(harness, "seller1", at(11, 9))
    (result,) = faulty.connector.create([event])
    # The PUT reached the server; its retry met 412 and found our very event there.
    assert result.outcome is Outcome.CREATED
    assert harness.count_events(event.key) == 1
    assert [m for m, _ in faulty.transport.seen].count("PUT") == 2
    (again,) = harness.connector.create([event])  # a later run: adopted, not recreated
    assert again.outcome is Outcome.EXISTED and again.event_id == result.event_id
    assert harness.count_events(event.key) == 1


def test_write_race_rereads_and_keeps_the_other_change(harness: CaldavHarness) -> None:
    event = session(harness, "seller1", at(11, 9))
    harness.connector.create([event])
    faulty = Faulty(harness)

    def reply_first(request: httpx.Request, _: httpx.Response | None) -> None:
        if is_put(request) and "if-match" in request.headers:
            # The attendee's reply lands between our read and our write.
            harness.respond(event.key, "seller1", Response.ACCEPTED)
            faulty.transport.before.clear()

    faulty.transport.before.append(reply_first)
    change = EventChange(event.key, event.organizer, ChangeAction.CANCEL, comment="Ill")
    (result,) = faulty.connector.update([change])
    assert result.outcome is Outcome.CANCELLED
    assert [m for m, _ in faulty.transport.seen].count("PUT") == 2  # 412, then again
    state = next(
        s
        for s in harness.connector.changes(
            harness.ref("manager"), None, WINDOW_START, WINDOW_END
        ).events
        if s.key == event.key
    )
    assert state.cancelled
    assert state.responses["seller1@example.com"] is Response.ACCEPTED


def test_cancel_whose_answer_was_lost_reports_cancelled(harness: CaldavHarness) -> None:
    event = session(harness, "seller2", at(12, 14))
    harness.connector.create([event])
    faulty = Faulty(harness)
    lost: Hook = lambda request, response: (  # noqa: E731
        httpx.ReadError("reset") if is_put(request) else None
    )
    faulty.transport.after.append(lost)
    change = EventChange(event.key, event.organizer, ChangeAction.CANCEL)
    (result,) = faulty.connector.update([change])
    assert result.outcome is Outcome.CANCELLED
    assert harness.connector.update([change])[0].outcome is Outcome.GONE


def test_sync_report_without_data_is_completed_with_multiget(harness: CaldavHarness) -> None:
    event = session(harness, "seller1", at(11, 9))
    harness.connector.create([event])
    cursor = harness.connector.changes(
        harness.ref("manager"), None, WINDOW_START, WINDOW_END
    ).cursor
    harness.respond(event.key, "seller1", Response.DECLINED)
    faulty = Faulty(harness)

    def strip_data(
        request: httpx.Request, response: httpx.Response | None
    ) -> httpx.Response | None:
        if response is None or b"sync-collection" not in request.content:
            return None
        body = re.sub(rb"<C:calendar-data>.*?</C:calendar-data>", b"", response.content, flags=re.S)
        body = re.sub(rb"<calendar-data[^>]*>.*?</calendar-data>", b"", body, flags=re.S)
        assert body != response.content
        return httpx.Response(207, content=body, headers={"Content-Type": "text/xml"})

    faulty.transport.after.append(strip_data)
    answer = faulty.connector.changes(harness.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    (state,) = answer.events
    assert state.responses["seller1@example.com"] is Response.DECLINED
    # One sync report, then one multiget for the data it left out.
    assert [m for m, _ in faulty.transport.seen].count("REPORT") == 2


def test_truncated_sync_report_is_continued_with_its_token(harness: CaldavHarness) -> None:
    """RFC 6578 3.6: a server may answer part of the changes, flag the collection 507
    and hand out a token for the rest. Nothing may be dropped."""
    one = session(harness, "seller1", at(11, 9))
    two = session(harness, "seller2", at(12, 14))
    harness.connector.create([one])
    cursor = harness.connector.changes(
        harness.ref("manager"), None, WINDOW_START, WINDOW_END
    ).cursor
    harness.connector.create([two])
    harness.respond(one.key, "seller1", Response.TENTATIVE)
    faulty = Faulty(harness)
    calendar = harness.calendar_path("manager")

    def truncate(request: httpx.Request, response: httpx.Response | None) -> httpx.Response | None:
        if response is None or b"sync-collection" not in request.content:
            return None
        # Keep the first member only, flag the collection 507, hand out the old token
        # (so the next round reports everything from there again).
        old_token = re.search(rb"<D:sync-token>(.*?)</D:sync-token>", request.content)
        assert old_token is not None
        responses = re.findall(rb"<response>.*?</response>", response.content, flags=re.S)
        assert len(responses) == 2
        root = re.search(rb"<multistatus[^>]*>", response.content)  # its namespaces
        assert root is not None
        body = (
            root.group(0)
            + responses[0]
            + b"<response><href>"
            + calendar.encode()
            + b"</href><status>HTTP/1.1 507 Insufficient Storage</status></response>"
            + b"<sync-token>"
            + old_token.group(1)
            + b"</sync-token></multistatus>"
        )
        return httpx.Response(207, content=body)

    faulty.transport.after.append(truncate)
    answer = faulty.connector.changes(harness.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    assert {s.key for s in answer.events} == {one.key, two.key}
    assert [m for m, _ in faulty.transport.seen].count("REPORT") == 2
    quiet = faulty.connector.changes(
        harness.ref("manager"), answer.cursor, WINDOW_START, WINDOW_END
    )
    assert quiet.events == () and not quiet.full


def test_request_budget(harness: CaldavHarness) -> None:
    """What a run costs on the wire: one REPORT per person read, one PUT per session
    created, GET + PUT per change, one REPORT for a quiet `changes`."""
    for person in ("manager", "seller1", "seller2"):
        harness.add_busy(person, at(4, 10), at(4, 11))
    faulty = Faulty(harness)
    sent = faulty.transport.seen
    faulty.connector.busy(
        [harness.ref(p) for p in ("manager", "seller1", "seller2")], WINDOW_START, WINDOW_END
    )
    assert [m for m, _ in sent] == ["REPORT"] * 3
    sent.clear()
    events = [session(harness, "seller1", at(11, 9)), session(harness, "seller2", at(12, 9))]
    faulty.connector.create(events)
    assert [m for m, _ in sent] == ["PUT", "PUT"]
    cursor = faulty.connector.changes(harness.ref("manager"), None, WINDOW_START, WINDOW_END).cursor
    sent.clear()
    faulty.connector.update([EventChange(events[0].key, events[0].organizer, ChangeAction.CANCEL)])
    assert [m for m, _ in sent] == ["GET", "PUT"]
    faulty.connector.changes(harness.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    sent.clear()
    faulty.connector.changes(harness.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    assert [m for m, _ in sent] == ["REPORT"]
