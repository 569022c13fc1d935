"""Meet attendance through the real client against the fake Meet v2 and Directory:
a session is booked (the fake gives its Meet link), a call is seeded for that link's
meeting code, and `attendance` must report what Meet says, faithfully."""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.errors import HttpError

from connectors.base import (
    AttendanceStatus,
    Attendee,
    CalendarRef,
    ConnectorContext,
    MeetingQuery,
    NewEvent,
    Outcome,
)
from connectors.google.attendance import meeting_code, parse_timestamp
from connectors.google.auth import DIRECTORY_SCOPE, MEET_SCOPE, SCOPES
from connectors.google.connector import GoogleConnector
from tests.contract.harness import PEOPLE
from tests.contract.suite import at, session
from tests.fakes.google_faults import RATE_LIMIT_429, Fault
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    GoogleHarness,
    RecordedSleep,
    connector_options,
    fake,
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import Call, FakeGoogle

MANAGER = PEOPLE["manager"][0]
SELLER = PEOPLE["seller1"][0]
START = at(11, 9)  # 08:00 UTC
END = START + timedelta(minutes=45)


def t(minutes: float) -> datetime:
    """`minutes` after the session's start, in UTC."""
    return (START + timedelta(minutes=minutes)).astimezone(UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Meet:
    fake: FakeGoogle
    harness: GoogleHarness
    connector: GoogleConnector
    clock: Clock
    sleep: RecordedSleep

    def book(self, start: datetime = START, **changes: object) -> tuple[NewEvent, MeetingQuery]:
        event = replace(session(self.harness, "seller1", start), **changes)  # type: ignore[arg-type]
        (result,) = self.connector.create([event])
        assert result.outcome is Outcome.CREATED, result.error
        query = MeetingQuery(
            key=event.key,
            organizer=event.organizer,
            people=(Attendee(MANAGER), Attendee(SELLER)),
            start=event.start,
            end=event.end,
            event_id=result.event_id,
            video_url=result.video_url,
        )
        return event, query

    def code(self, query: MeetingQuery) -> str:
        code = meeting_code(query.video_url)
        assert code is not None
        return code

    def calls(self, kind: str) -> list[Call]:
        return list(self.fake.api_calls(kind=kind))


@pytest.fixture
def meet(fake: FakeGoogle, google_key_file: Path, tmp_path: Path) -> Iterator[Meet]:
    harness = GoogleHarness(fake, google_key_file, tmp_path)
    harness.connector.close()
    clock = Clock(END.astimezone(UTC) + timedelta(hours=3))
    fake.meet.clock = clock
    sleep = RecordedSleep()
    connector = GoogleConnector(
        connector_options(fake, google_key_file),
        ConnectorContext(base_dir=tmp_path),
        sleep=sleep,
        clock=clock,
    )
    harness.connector = connector
    yield Meet(fake, harness, connector, clock, sleep)
    connector.close()
    fake.tokens.delegated_scopes = None


def test_both_present_is_met_with_each_persons_interval(meet: Meet) -> None:
    _event, query = meet.book()
    record = meet.fake.add_conference(
        meet.code(query), t(-2), t(44), [(MANAGER, [(t(-2), t(44))]), (SELLER, [(t(1), t(43))])]
    )
    answer = meet.connector.attendance([query])
    assert not answer.errors
    got = answer.results[query.key]
    assert got.status is AttendanceStatus.MET
    assert dict(got.presence) == {MANAGER: ((t(-2), t(44)),), SELLER: ((t(1), t(43)),)}
    assert record in got.detail and meet.code(query) in got.detail
    # Read as the organiser, with the documented filter on code and start time.
    (listing,) = meet.calls("GET /v2/conferenceRecords")[:1]
    assert listing.subject == MANAGER
    text = listing.params["filter"][0]
    assert text.startswith(f'space.meeting_code = "{meet.code(query)}" AND start_time>="')


def test_seller_absent_leaves_only_the_manager(meet: Meet) -> None:
    _event, query = meet.book()
    meet.fake.add_conference(meet.code(query), t(0), t(20), [(MANAGER, [(t(0), t(20))])])
    got = meet.connector.attendance([query]).results[query.key]
    assert got.status is AttendanceStatus.MET
    assert dict(got.presence) == {MANAGER: ((t(0), t(20)),)}


def test_manager_absent_leaves_only_the_seller(meet: Meet) -> None:
    _event, query = meet.book()
    meet.fake.add_conference(meet.code(query), t(3), t(15), [(SELLER, [(t(3), t(15))])])
    got = meet.connector.attendance([query]).results[query.key]
    assert got.status is AttendanceStatus.MET
    assert dict(got.presence) == {SELLER: ((t(3), t(15)),)}


def test_a_rejoin_is_a_second_interval(meet: Meet) -> None:
    _event, query = meet.book()
    meet.fake.add_conference(
        meet.code(query),
        t(0),
        t(45),
        [(MANAGER, [(t(0), t(45))]), (SELLER, [(t(30), t(44)), (t(1), t(10))])],
    )
    got = meet.connector.attendance([query]).results[query.key]
    assert got.presence[SELLER] == ((t(1), t(10)), (t(30), t(44)))
    assert got.presence[MANAGER] == ((t(0), t(45)),)


def test_two_calls_in_one_space_add_up(meet: Meet) -> None:
    """Everybody left and came back: Meet records a second call of the same space."""
    _event, query = meet.book()
    code = meet.code(query)
    meet.fake.add_conference(code, t(0), t(5), [(MANAGER, [(t(0), t(5))])])
    meet.fake.add_conference(
        code, t(10), t(40), [(MANAGER, [(t(10), t(40))]), (SELLER, [(t(11), t(40))])]
    )
    got = meet.connector.attendance([query]).results[query.key]
    assert got.presence[MANAGER] == ((t(0), t(5)), (t(10), t(40)))
    assert got.presence[SELLER] == ((t(11), t(40)),)


def test_every_page_of_participants_and_sessions_is_read(meet: Meet) -> None:
    _event, query = meet.book()
    others = [PEOPLE["seller2"][0], PEOPLE["seller3"][0], None, None, "tel:+46701234567"]
    seeds = [(who, [(t(0), t(30))]) for who in others]
    seller_sessions = [(t(n * 5), t(n * 5 + 3)) for n in range(5)]  # five rejoins: 3 pages
    meet.fake.add_conference(
        meet.code(query),
        t(0),
        t(30),
        [*seeds, (MANAGER, [(t(0), t(30))]), (SELLER, seller_sessions)],
    )
    assert meet.fake.meet.page_cap == 2
    got = meet.connector.attendance([query]).results[query.key]
    assert got.presence[SELLER] == tuple(seller_sessions)
    assert got.presence[MANAGER] == ((t(0), t(30)),)
    participant_pages = meet.calls("/participants")
    listing = [c for c in participant_pages if c.path.endswith("/participants")]
    assert len(listing) == 4  # 7 participants, 2 a page
    assert "7 participant(s)" in got.detail


def test_no_call_yet_is_pending_within_the_providers_delay(meet: Meet) -> None:
    _event, query = meet.book()
    meet.clock.now = END.astimezone(UTC) + timedelta(minutes=10)
    got = meet.connector.attendance([query]).results[query.key]
    assert got.status is AttendanceStatus.PENDING and "may still report" in got.detail


def test_a_session_not_over_is_pending_without_asking(meet: Meet) -> None:
    _event, query = meet.book()
    meet.clock.now = t(20)
    meet.fake.reset_stats()
    got = meet.connector.attendance([query]).results[query.key]
    assert got.status is AttendanceStatus.PENDING
    assert meet.fake.stats["api"] == 0


def test_a_call_still_going_on_is_pending(meet: Meet) -> None:
    _event, query = meet.book()
    meet.fake.add_conference(meet.code(query), t(0), None, [(MANAGER, [(t(0), None)])])
    got = meet.connector.attendance([query]).results[query.key]
    assert got.status is AttendanceStatus.PENDING and "still going on" in got.detail


def test_no_call_after_the_delay_is_not_held(meet: Meet) -> None:
    _event, query = meet.book()
    # A call of the same space a week earlier is not this session's.
    meet.fake.add_conference(
        meet.code(query),
        t(-7 * 24 * 60),
        t(-7 * 24 * 60 + 30),
        [(MANAGER, [(t(-10080), t(-10060))])],
    )
    meet.clock.now = END.astimezone(UTC) + timedelta(hours=2)
    got = meet.connector.attendance([query]).results[query.key]
    assert got.status is AttendanceStatus.NOT_HELD and not got.presence


def test_records_past_thirty_days_are_expired(meet: Meet) -> None:
    _event, query = meet.book()
    meet.fake.add_conference(meet.code(query), t(0), t(40), [(MANAGER, [(t(0), t(40))])])
    meet.clock.now = t(40) + timedelta(days=30, minutes=1)  # the fake has deleted the record
    got = meet.connector.attendance([query]).results[query.key]
    assert got.status is AttendanceStatus.EXPIRED
    assert "30 days" in got.detail and "end time" in got.detail
    meet.clock.now = t(40) + timedelta(days=29)  # the record is still there
    assert meet.connector.attendance([query]).results[query.key].status is AttendanceStatus.MET
    meet.clock.now = t(45) + timedelta(days=40)
    meet.fake.reset_stats()
    got = meet.connector.attendance([query]).results[query.key]
    assert got.status is AttendanceStatus.EXPIRED and meet.fake.stats["api"] == 0


def test_an_event_without_meet_has_no_meeting(meet: Meet) -> None:
    fallback = "https://video.example.com/room/coaching"
    _event, query = meet.book(online_meeting=False)
    assert query.video_url == fallback  # the invitation carries the fallback link only
    got = meet.connector.attendance([query]).results[query.key]
    assert got.status is AttendanceStatus.NO_MEETING and fallback in got.detail
    # Without the link, the event itself is read: it has no Meet conference.
    meet.fake.reset_stats()
    got = meet.connector.attendance([replace(query, video_url=None)]).results[query.key]
    assert got.status is AttendanceStatus.NO_MEETING and "no Google Meet" in got.detail
    assert len(meet.calls(f"/events/{query.key}")) == 1
    assert not meet.calls("/v2/")


def test_the_meet_code_is_read_from_the_event_when_the_link_is_not_given(meet: Meet) -> None:
    _event, query = meet.book()
    meet.fake.add_conference(meet.code(query), t(0), t(40), [(SELLER, [(t(0), t(40))])])
    meet.fake.reset_stats()
    got = meet.connector.attendance([replace(query, video_url=None)]).results[query.key]
    assert got.presence == {SELLER: ((t(0), t(40)),)}
    assert len(meet.calls(f"/events/{query.key}")) == 1


def test_a_refusal_names_the_scope_and_the_other_sessions_are_answered(meet: Meet) -> None:
    _e1, first = meet.book()
    _e2, second = meet.book(start=at(12, 9))
    meet.fake.add_conference(
        meet.code(second),
        (at(12, 9)).astimezone(UTC),
        (at(12, 9, 30)).astimezone(UTC),
        [(SELLER, [(at(12, 9).astimezone(UTC), at(12, 9, 30).astimezone(UTC))])],
    )
    meet.clock.now = at(13, 9).astimezone(UTC)
    meet.fake.faults.fail_next(
        Fault(403, "PERMISSION_DENIED", "The caller does not have permission"),
        match="GET /v2/conferenceRecords",
    )
    answer = meet.connector.attendance([first, second])
    assert set(answer.errors) == {first.key}
    text = answer.errors[first.key]
    assert MEET_SCOPE in text and "domain-wide delegation" in text and "403" in text
    assert answer.results[second.key].status is AttendanceStatus.MET


def test_without_the_attendance_grant_booking_works_and_attendance_says_what_to_grant(
    meet: Meet,
) -> None:
    meet.fake.tokens.delegated_scopes = frozenset({*SCOPES, MEET_SCOPE})  # no directory
    _event, query = meet.book()  # a narrower token: booking is not held up
    meet.fake.add_conference(meet.code(query), t(0), t(40), [(SELLER, [(t(0), t(40))])])
    answer = meet.connector.attendance([query])
    text = answer.errors[query.key]
    assert MEET_SCOPE in text and DIRECTORY_SCOPE in text and "Admin console" in text
    assert "ya29." not in text and "PRIVATE KEY" not in text
    # One refused token request, then one token per organiser: the fallback holds for
    # everybody (delegation grants scopes domain-wide), not one refusal per organiser.
    assert meet.fake.stats["token"] == 2
    other = meet.harness.ref("seller2")
    meet.connector.changes(other, None, START, END)
    assert meet.fake.stats["token"] == 3


def test_one_token_per_organiser_covers_booking_and_attendance(meet: Meet) -> None:
    meet.fake.reset_stats()
    _event, query = meet.book()
    meet.fake.add_conference(meet.code(query), t(0), t(40), [(SELLER, [(t(0), t(40))])])
    meet.connector.attendance([query])
    meet.connector.attendance([query])
    assert meet.fake.stats["token"] == 1


def test_throttled_then_answered(meet: Meet) -> None:
    _event, query = meet.book()
    meet.fake.add_conference(meet.code(query), t(0), t(40), [(MANAGER, [(t(0), t(40))])])
    meet.fake.faults.fail_next(RATE_LIMIT_429, match="GET /v2/conferenceRecords", times=2)
    meet.fake.faults.fail_next(RATE_LIMIT_429, match="/participantSessions")
    got = meet.connector.attendance([query])
    assert not got.errors
    assert got.results[query.key].presence == {MANAGER: ((t(0), t(40)),)}
    assert len(meet.sleep.delays) == 3 and min(meet.sleep.delays) >= 1  # Retry-After: 1


def test_throttling_past_the_retries_is_an_error_not_nobody_came(meet: Meet) -> None:
    _event, query = meet.book()
    meet.fake.faults.fail_next(RATE_LIMIT_429, match="GET /v2/conferenceRecords", times=99)
    answer = meet.connector.attendance([query])
    assert query.key not in answer.results and "429" in answer.errors[query.key]


def test_anonymous_and_phone_participants_are_nobody(meet: Meet) -> None:
    _event, query = meet.book()
    meet.fake.add_conference(
        meet.code(query),
        t(0),
        t(40),
        [
            (None, [(t(0), t(40))]),
            ("tel:+46701234567", [(t(0), t(40))]),
            (MANAGER, [(t(0), t(40))]),
        ],
    )
    got = meet.connector.attendance([query]).results[query.key]
    assert dict(got.presence) == {MANAGER: ((t(0), t(40)),)}
    assert "2 not signed in" in got.detail


def test_user_ids_are_looked_up_once_per_person(meet: Meet) -> None:
    _e1, first = meet.book()
    _e2, second = meet.book(start=at(11, 13))
    for query in (first, second):
        start = query.start.astimezone(UTC)
        meet.fake.add_conference(
            meet.code(query),
            start,
            start + timedelta(minutes=30),
            [(SELLER, [(start, start + timedelta(minutes=30))])],
        )
    meet.clock.now = at(12, 9).astimezone(UTC)
    meet.fake.reset_stats()
    answer = meet.connector.attendance([first, second])
    answer2 = meet.connector.attendance([first])
    assert answer.results[second.key].presence and answer2.results[first.key].presence
    lookups = meet.calls("GET /admin/directory/v1/users/")
    assert len(lookups) == 2  # manager and seller, once each
    assert all(c.params["viewType"] == ["domain_public"] for c in lookups)


def test_a_person_outside_the_directory_is_never_matched(meet: Meet) -> None:
    _event, query = meet.book()
    guest = "guest@elsewhere.example"
    meet.fake.add_conference(meet.code(query), t(0), t(40), [(MANAGER, [(t(0), t(40))])])
    query = replace(query, people=(*query.people, Attendee(guest)))
    got = meet.connector.attendance([query]).results[query.key]
    assert set(got.presence) == {MANAGER} and guest in got.detail


def test_the_fake_refuses_filters_the_real_api_refuses(meet: Meet) -> None:
    records = meet.connector._meet_api().records
    http = meet.connector._http(MANAGER)
    for text in (
        "space.meeting_code = abc-mnop-xyz",  # unquoted
        'space.meeting_code > "abc-mnop-xyz"',  # no ordering on codes
        'meeting_code = "abc-mnop-xyz"',  # unknown field
        'start_time >= "yesterday"',  # not a timestamp
    ):
        with pytest.raises(HttpError) as caught:
            records.list(filter=text).execute(http=http)
        assert caught.value.resp.status == 400, text
    ok = records.list(filter='space.meeting_code = "abc-mnop-xyz" AND end_time IS NULL')
    assert ok.execute(http=http) == {"conferenceRecords": []}


def test_an_organiser_who_cannot_be_impersonated_fails_alone(meet: Meet) -> None:
    _event, query = meet.book()
    meet.fake.add_conference(meet.code(query), t(0), t(40), [(SELLER, [(t(0), t(40))])])
    stranger = CalendarRef("stranger", "stranger@example.com", "stranger@example.com")
    lost = replace(query, key="1" * 12, organizer=stranger)
    answer = meet.connector.attendance([lost, query])
    assert set(answer.errors) == {lost.key} and "stranger@example.com" in answer.errors[lost.key]
    assert answer.results[query.key].presence == {SELLER: ((t(0), t(40)),)}


def test_a_sign_in_without_the_meet_scope_is_told_to_sign_in_again(
    meet: Meet, tmp_path: Path
) -> None:
    _event, query = meet.book()
    meet.fake.add_conference(meet.code(query), t(0), t(40), [(SELLER, [(t(0), t(40))])])
    token_file = meet.fake.tokens.authorized_user_file(tmp_path, MANAGER, frozenset(SCOPES))
    options = {
        **connector_options(meet.fake, Path("unused")),
        "service_account_file": None,
        "delegation": False,
        "oauth_token_file": str(token_file),
        "token_uri": meet.fake.token_uri,
    }
    user = GoogleConnector(options, ConnectorContext(tmp_path), clock=meet.clock)
    try:
        answer = user.attendance([query])
    finally:
        user.close()
    text = answer.errors[query.key]
    assert MEET_SCOPE in text and "coachpass auth google" in text


def test_a_refused_directory_lookup_names_its_scope(meet: Meet) -> None:
    _event, query = meet.book()
    meet.fake.add_conference(meet.code(query), t(0), t(40), [(SELLER, [(t(0), t(40))])])
    meet.fake.faults.fail_next(
        Fault(403, "insufficientPermissions", "Insufficient Permission"),
        match="GET /admin/directory/v1/users/",
    )
    answer = meet.connector.attendance([query])
    text = answer.errors[query.key]
    assert DIRECTORY_SCOPE in text and MANAGER in text and "domain-wide delegation" in text
    # Nothing was cached from the failure: the next read looks the person up again.
    assert meet.connector.attendance([query]).results[query.key].presence


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://meet.google.com/abc-mnop-xyz", "abc-mnop-xyz"),
        ("https://meet.google.com/abc-mnop-xyz?authuser=1&hs=122", "abc-mnop-xyz"),
        ("https://MEET.google.com/ABC-mnop-xyz", "abc-mnop-xyz"),
        ("https://meet.google.com/lookup/abcdef", None),
        ("https://meet.google.com.evil.example/abc-mnop-xyz", None),
        ("https://video.example.com/abc-mnop-xyz", None),
        (None, None),
    ],
)
def test_meeting_code_of_a_link(url: str | None, code: str | None) -> None:
    assert meeting_code(url) == code


def test_timestamps_with_nanoseconds_and_without_fraction() -> None:
    assert parse_timestamp("2031-03-11T08:00:01.123456789Z") == datetime(
        2031, 3, 11, 8, 0, 1, 123456, tzinfo=UTC
    )
    assert parse_timestamp("2031-03-11T08:00:01Z") == datetime(2031, 3, 11, 8, 0, 1, tzinfo=UTC)
    assert parse_timestamp("2031-03-11T09:00:01.5+01:00") == datetime(
        2031, 3, 11, 8, 0, 1, 500000, tzinfo=UTC
    )


def test_the_fake_binds_page_tokens_to_their_filter_and_wants_the_scope(meet: Meet) -> None:
    _event, query = meet.book()
    code = meet.code(query)
    for minutes in (0, 60, 120):
        meet.fake.add_conference(code, t(minutes), t(minutes + 30), [])
    records = meet.connector._meet_api().records
    http = meet.connector._http(MANAGER)
    text = f'space.meeting_code = "{code}"'
    first = records.list(filter=text).execute(http=http)
    assert len(first["conferenceRecords"]) == 2 and first["nextPageToken"]
    rest = records.list(filter=text, pageToken=first["nextPageToken"]).execute(http=http)
    assert len(rest["conferenceRecords"]) == 1 and "nextPageToken" not in rest
    other = 'space.meeting_code = "abc-mnop-xyz"'
    with pytest.raises(HttpError) as caught:
        records.list(filter=other, pageToken=first["nextPageToken"]).execute(http=http)
    assert caught.value.resp.status == 400
    meet.fake.tokens.delegated_scopes = frozenset(SCOPES)
    narrow = meet.connector.credentials._base.with_subject(MANAGER)
    with pytest.raises(HttpError) as caught:
        records.list(filter=text).execute(
            http=AuthorizedHttp(narrow, http=meet.connector._transport)
        )
    assert caught.value.resp.status == 403
    assert b"ACCESS_TOKEN_SCOPE_INSUFFICIENT" in caught.value.content
