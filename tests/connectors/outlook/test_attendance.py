"""Teams attendance through Graph: the real msal and HTTP client against the fake's
online meetings, attendance reports and records (tests/fakes/graph_meetings)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.base import (
    AttendanceAnswer,
    AttendanceStatus,
    Attendee,
    ConnectorUserError,
    MeetingQuery,
    NewEvent,
)
from connectors.outlook.connector import OutlookConnector
from connectors.outlook.meetings import instant, organizer_object_id, presences, refusal
from tests.fakes.graph_client import SECRET_ENV, connect, ref
from tests.fakes.graph_entra import CLIENT_ID
from tests.fakes.graph_meetings import object_id
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

UTC = dt.UTC
MANAGER = "manager@example.com"
OTHER = "other.manager@example.com"
SELLER = "seller@example.com"
SELLER2 = "seller2@example.com"
START = dt.datetime(2031, 3, 11, 9, tzinfo=UTC)
END = START + dt.timedelta(minutes=45)
ROLES = {"OnlineMeetings.Read.All", "OnlineMeetingArtifact.Read.All"}


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(END + dt.timedelta(hours=3))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph([MANAGER, OTHER, SELLER, SELLER2]).start()
    server.app_roles |= ROLES
    server.state.meetings.now = clock
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def conn(fake: FakeGraph, tmp_path: Path, clock: Clock) -> Iterator[OutlookConnector]:
    connector = connect(fake, tmp_path, clock=clock)
    try:
        yield connector
    finally:
        connector.close()


def at(minutes: int) -> dt.datetime:
    return START + dt.timedelta(minutes=minutes)


def book(
    conn: OutlookConnector, key: str, organizer: str = MANAGER, seller: str = SELLER
) -> MeetingQuery:
    """A session booked through the connector (a Teams meeting), as the query for it."""
    event = NewEvent(
        key=key,
        organizer=ref(organizer),
        attendees=(Attendee(seller),),
        start=START,
        end=END,
        summary="Coaching",
        description_text="Agenda",
    )
    [result] = conn.create([event])
    assert result.ok, result.error
    return MeetingQuery(
        key,
        ref(organizer),
        (Attendee(organizer), Attendee(seller)),
        START,
        END,
        event_id=result.event_id,
        video_url=result.video_url,
    )


def link(q: MeetingQuery) -> str:
    assert q.video_url
    return q.video_url


def ask(conn: OutlookConnector, *queries: MeetingQuery) -> AttendanceAnswer:
    return conn.attendance(list(queries))


# -- what the report says, faithfully -----------------------------------------------


def test_both_present(fake: FakeGraph, conn: OutlookConnector) -> None:
    q = book(conn, "cpboth")
    fake.add_attendance(
        link(q), at(-2), at(44), [(MANAGER, [(at(-2), at(44))]), (SELLER, [(at(1), at(43))])]
    )
    answer = ask(conn, q)
    assert not answer.errors
    got = answer.results["cpboth"]
    assert got.status is AttendanceStatus.MET
    assert got.presence == {MANAGER: ((at(-2), at(44)),), SELLER: ((at(1), at(43)),)}
    # Online-meeting calls name the organiser by object id (from the link), never UPN.
    paths = [p for _m, p, _h in fake.log if "onlineMeetings" in p]
    assert paths and all(f"/users/{object_id(MANAGER)}/" in p for p in paths)


def test_seller_absent(fake: FakeGraph, conn: OutlookConnector) -> None:
    q = book(conn, "cpnoseller")
    fake.add_attendance(link(q), at(0), at(20), [(MANAGER, [(at(0), at(20))])])
    got = ask(conn, q).results["cpnoseller"]
    assert got.status is AttendanceStatus.MET
    assert got.presence == {MANAGER: ((at(0), at(20)),)}


def test_manager_absent(fake: FakeGraph, conn: OutlookConnector) -> None:
    q = book(conn, "cpnomanager")
    fake.add_attendance(link(q), at(0), at(12), [(SELLER, [(at(0), at(12))])])
    got = ask(conn, q).results["cpnomanager"]
    assert got.status is AttendanceStatus.MET
    assert set(got.presence) == {SELLER}


def test_too_short_is_reported_as_it_was(fake: FakeGraph, conn: OutlookConnector) -> None:
    q = book(conn, "cpshort")
    fake.add_attendance(
        link(q), at(0), at(4), [(MANAGER, [(at(0), at(4))]), (SELLER, [(at(1), at(3))])]
    )
    got = ask(conn, q).results["cpshort"]
    assert got.status is AttendanceStatus.MET  # the rule, not the reader, calls it short
    assert got.presence[SELLER] == ((at(1), at(3)),)


def test_a_rejoin_is_a_second_interval(fake: FakeGraph, conn: OutlookConnector) -> None:
    q = book(conn, "cprejoin")
    fake.add_attendance(
        link(q),
        at(0),
        at(45),
        [(MANAGER, [(at(0), at(45))]), (SELLER, [(at(20), at(40)), (at(2), at(10))])],
    )
    got = ask(conn, q).results["cprejoin"]
    assert got.presence[SELLER] == ((at(2), at(10)), (at(20), at(40)))


def test_every_page_of_records_is_read(fake: FakeGraph, conn: OutlookConnector) -> None:
    q = book(conn, "cppages")
    fake.page_size = 2
    guests: list[tuple[str | None, list[tuple[dt.datetime | None, dt.datetime | None]]]] = [
        (f"guest{n}@partner.example", [(at(0), at(5))]) for n in range(4)
    ]
    fake.add_attendance(
        link(q),
        at(0),
        at(45),
        [
            *guests,
            (None, [(at(0), at(30))]),  # dialled in by phone: nobody we can name
            (MANAGER, [(at(0), at(45))]),
            (SELLER, [(at(5), at(45)), (at(6), None)]),  # Graph lacks one leave time
        ],
    )
    got = ask(conn, q).results["cppages"]
    assert got.presence == {MANAGER: ((at(0), at(45)),), SELLER: ((at(5), at(45)),)}
    assert "1 participant(s) without an e-mail" in got.detail
    assert "1 interval(s) without join or leave time" in got.detail
    records = [p for _m, p, _h in fake.log if p.split("?")[0].endswith("/attendanceRecords")]
    assert len(records) == 4  # 7 records, 2 a page


def test_only_the_run_at_the_session_time_counts(fake: FakeGraph, conn: OutlookConnector) -> None:
    q = book(conn, "cpruns")
    day_before = dt.timedelta(days=1)
    fake.add_attendance(
        link(q),
        at(0) - day_before,
        at(30) - day_before,
        [(SELLER, [(at(0) - day_before, at(30) - day_before)])],
    )
    fake.add_attendance(link(q), at(0), at(30), [(MANAGER, [(at(0), at(30))])])
    got = ask(conn, q).results["cpruns"]
    assert got.presence == {MANAGER: ((at(0), at(30)),)}


# -- no report ------------------------------------------------------------------------


def test_no_report_yet_is_pending(conn: OutlookConnector, clock: Clock) -> None:
    q = book(conn, "cppending")
    clock.now = END + dt.timedelta(hours=2)
    got = ask(conn, q).results["cppending"]
    assert got.status is AttendanceStatus.PENDING and "no attendance report yet" in got.detail


def test_a_session_not_over_is_pending_without_asking(
    fake: FakeGraph, conn: OutlookConnector, clock: Clock
) -> None:
    q = book(conn, "cpearly")
    clock.now = at(30)
    before = fake.counts["graph"]
    assert ask(conn, q).results["cpearly"].status is AttendanceStatus.PENDING
    assert fake.counts["graph"] == before


def test_no_report_after_the_delay_is_not_held(conn: OutlookConnector, clock: Clock) -> None:
    q = book(conn, "cpnotheld")
    clock.now = END + dt.timedelta(hours=25)
    assert ask(conn, q).results["cpnotheld"].status is AttendanceStatus.NOT_HELD


def test_the_delay_is_an_option(fake: FakeGraph, tmp_path: Path, clock: Clock) -> None:
    conn = connect(fake, tmp_path, clock=clock, attendance_delay_hours=1)
    try:
        q = book(conn, "cpshortdelay")
        clock.now = END + dt.timedelta(hours=2)
        assert ask(conn, q).results["cpshortdelay"].status is AttendanceStatus.NOT_HELD
    finally:
        conn.close()


def test_a_bad_delay_option_names_the_setting(fake: FakeGraph, tmp_path: Path) -> None:
    with pytest.raises(
        ConnectorUserError, match="attendance_delay_hours must be a number of hours"
    ):
        connect(fake, tmp_path, attendance_delay_hours="a day")


def test_a_report_past_its_retention_is_expired(
    fake: FakeGraph, conn: OutlookConnector, clock: Clock
) -> None:
    q = book(conn, "cpexpired")
    fake.add_attendance(link(q), at(0), at(45), [(MANAGER, [(at(0), at(45))])])
    clock.now = END + dt.timedelta(days=366)
    got = ask(conn, q).results["cpexpired"]
    assert got.status is AttendanceStatus.EXPIRED and got.presence == {}


# -- no Teams meeting -----------------------------------------------------------------


def test_an_event_without_teams_is_no_meeting(fake: FakeGraph, conn: OutlookConnector) -> None:
    fake.state.teams_allowed = False
    q = book(conn, "cpnoteams")
    assert q.video_url is None and q.event_id
    got = ask(conn, q).results["cpnoteams"]
    assert got.status is AttendanceStatus.NO_MEETING and "no Teams meeting" in got.detail


def test_a_fallback_link_is_no_meeting_without_asking(
    fake: FakeGraph, conn: OutlookConnector
) -> None:
    q = book(conn, "cpzoom")
    zoom = MeetingQuery(q.key, q.organizer, q.people, START, END, video_url="https://zoom.us/j/1")
    before = fake.counts["graph"]
    assert ask(conn, zoom).results["cpzoom"].status is AttendanceStatus.NO_MEETING
    assert fake.counts["graph"] == before


def test_the_link_is_read_from_the_event_or_its_tag(
    fake: FakeGraph, conn: OutlookConnector
) -> None:
    q = book(conn, "cpbyevent")
    fake.add_attendance(link(q), at(0), at(45), [(SELLER, [(at(0), at(45))])])
    by_id = MeetingQuery(q.key, q.organizer, q.people, START, END, event_id=q.event_id)
    by_key = MeetingQuery(q.key, q.organizer, q.people, START, END)
    for query in (by_id, by_key):
        got = ask(conn, query).results["cpbyevent"]
        assert got.status is AttendanceStatus.MET and set(got.presence) == {SELLER}


# -- refusals, throttling ---------------------------------------------------------------


def test_missing_permissions_are_errors_naming_them(
    fake: FakeGraph, tmp_path: Path, clock: Clock
) -> None:
    for role in sorted(ROLES):
        fake.app_roles = {"Calendars.ReadWrite", "Mail.Send"} | (ROLES - {role})
        conn = connect(fake, tmp_path, clock=clock)
        try:
            q = book(conn, "cpperm" + role.split(".")[0].lower())
            fake.add_attendance(link(q), at(0), at(45), [(MANAGER, [(at(0), at(45))])])
            later = clock.now + dt.timedelta(hours=1)
            early = MeetingQuery("cpfuture", q.organizer, q.people, later, later + (END - START))
            answer = ask(conn, q, early)
        finally:
            conn.close()
        assert set(answer.errors) == {q.key}
        error = answer.errors[q.key]
        assert f"lacks the application permission {role}" in error and "admin consent" in error
        assert "New-CsApplicationAccessPolicy" not in error
        assert answer.results["cpfuture"].status is AttendanceStatus.PENDING
        assert CLIENT_SECRET not in error


def test_missing_access_policy_fails_only_that_organiser(
    fake: FakeGraph, conn: OutlookConnector
) -> None:
    refused = book(conn, "cppolicy", organizer=OTHER, seller=SELLER2)
    allowed = book(conn, "cpallowed")
    for q in (refused, allowed):
        fake.add_attendance(link(q), at(0), at(45), [(SELLER, [(at(0), at(45))])])
    fake.state.meetings.no_policy.add(OTHER)
    answer = ask(conn, refused, allowed)
    assert set(answer.errors) == {"cppolicy"}
    error = answer.errors["cppolicy"]
    assert OTHER in error and object_id(OTHER) in error
    assert f"New-CsApplicationAccessPolicy -Identity Coachpass -AppIds {CLIENT_ID}" in error
    assert (
        f"Grant-CsApplicationAccessPolicy -PolicyName Coachpass -Identity {object_id(OTHER)}"
        in error
    )
    assert "lacks the application permission" not in error
    assert answer.results["cpallowed"].status is AttendanceStatus.MET


def test_throttling_waits_retry_after_then_reads(
    fake: FakeGraph, tmp_path: Path, clock: Clock
) -> None:
    sleeps: list[float] = []
    conn = connect(fake, tmp_path, sleeps, clock=clock)
    try:
        q = book(conn, "cpthrottle")
        fake.add_attendance(link(q), at(0), at(45), [(SELLER, [(at(0), at(45))])])
        fake.faults.retry_after = "7"
        fake.faults.queue.append("429")
        got = ask(conn, q).results["cpthrottle"]
    finally:
        conn.close()
    assert fake.faults.injected == {"429": 1}
    assert sleeps == [7.0]
    assert got.status is AttendanceStatus.MET and set(got.presence) == {SELLER}


def test_a_throttled_batch_part_is_resent(fake: FakeGraph, conn: OutlookConnector) -> None:
    first, second = book(conn, "cpbatch1"), book(conn, "cpbatch2", seller=SELLER2)
    for q, who in ((first, SELLER), (second, SELLER2)):
        fake.add_attendance(link(q), at(0), at(45), [(who, [(at(0), at(45))])])
    fake.faults.part_queue.append("429")
    answer = ask(conn, first, second)
    assert not answer.errors and fake.faults.injected == {"429": 1}
    assert set(answer.results["cpbatch1"].presence) == {SELLER}
    assert set(answer.results["cpbatch2"].presence) == {SELLER2}
    assert fake.counts["batch_parts"] >= 7  # 2 look-ups + 1 resent, 2 report lists, 2 records


# -- the JSON, without I/O ----------------------------------------------------------------


def test_graph_json_mapping() -> None:
    assert instant("2021-10-05T04:38:27.6027225Z") == dt.datetime(
        2021, 10, 5, 4, 38, 27, 602722, tzinfo=UTC
    )
    assert instant("2021-10-05T06:38:27+02:00") == dt.datetime(2021, 10, 5, 4, 38, 27, tzinfo=UTC)
    assert instant(None) is None and instant("garbage") is None
    url = (
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0?context="
        "%7b%22Tid%22%3a%22t%22%2c%22Oid%22%3a%2211111111-2222-3333-4444-555555555555%22%7d"
    )
    assert organizer_object_id(url) == "11111111-2222-3333-4444-555555555555"
    assert organizer_object_id("https://teams.microsoft.com/meet/123?p=abc") is None
    seen = presences(
        [
            {"emailAddress": "Seller@Example.com", "attendanceIntervals": []},
            {"emailAddress": None, "attendanceIntervals": [{"joinDateTime": "x"}]},
        ],
        [SELLER],
    )
    assert seen.presence == {} and seen.anonymous == 1  # present but no time: not in it
    policy = {
        "error": {
            "code": "Forbidden",
            "message": "No Application Access Policy found for this app.",
        }
    }
    assert "Grant-CsApplicationAccessPolicy" in refusal(policy, 403, "X", "m", None, "app")
    other = {"error": {"code": "Forbidden", "message": "Forbidden"}}
    both = refusal(other, 403, "OnlineMeetingArtifact.Read.All", "m", None, "app")
    assert "OnlineMeetingArtifact.Read.All" in both and "New-CsApplicationAccessPolicy" in both


def test_the_fake_refuses_what_graph_refuses(conn: OutlookConnector) -> None:
    q = book(conn, "cpstrict")
    oid = object_id(MANAGER)
    call = conn.graph.call
    unfiltered = call("GET", f"/users/{oid}/onlineMeetings")
    assert unfiltered.status == 400 and "Filter expression expected" in unfiltered.error_text()
    other = call("GET", f"/users/{oid}/onlineMeetings?$filter=subject%20eq%20%27x%27")
    assert other.status == 400
    by_upn = f"/users/{MANAGER}/onlineMeetings?$filter=JoinWebUrl%20eq%20%27{link(q)}%27"
    assert call("GET", by_upn).status == 404  # app-only calls take the object id


def test_the_organisers_record_is_known_by_object_id(
    fake: FakeGraph, conn: OutlookConnector
) -> None:
    q = book(conn, "cpupn")
    report = fake.add_attendance(link(q), at(0), at(45), [(MANAGER, [(at(0), at(45))])])
    report.records[0]["emailAddress"] = "m.anager@contoso.onmicrosoft.com"  # UPN, not SMTP
    got = ask(conn, q).results["cpupn"]
    assert got.presence == {MANAGER: ((at(0), at(45)),)}


def test_a_teams_link_without_organiser_id_is_an_error_saying_why(
    conn: OutlookConnector,
) -> None:
    q = book(conn, "cpnewlink")
    short = MeetingQuery(
        q.key,
        q.organizer,
        q.people,
        START,
        END,
        video_url="https://teams.microsoft.com/meet/42?p=x",
    )
    answer = ask(conn, short)
    assert "object id, which this join link does not carry" in answer.errors["cpnewlink"]
    assert not answer.results
