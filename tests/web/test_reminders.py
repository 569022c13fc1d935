"""Reminders and notices: who is owed one, when, and that none is ever sent twice
(a refused send is retried, one cut off mid-send is listed and never repeated)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from connectors.mail import MailError
from scheduler.model import Month, SessionRecord, SessionState, StateChange
from scheduler.runtime import Runtime
from scheduler.sessions.actions import mark_session
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from scheduler.store.notices import BOOKED, REMINDER, SENT, UNKNOWN, NoticeStore
from scheduler.web.due import due_reminders
from scheduler.web.notices import notice_store, send_booked_notices, send_reminders
from tests.orgs import write_org
from tests.web.helpers import links_by_seller, notices, text_of, web_org

MONTH = Month(2027, 3)
BOOKED_AT = datetime(2027, 2, 20, 8, 0, tzinfo=UTC)
ZONE = "Europe/Stockholm"
WEEKDAYS = frozenset(range(5))
S = SessionState

# -- who is owed a reminder (pure) ----------------------------------------------

END = datetime(2027, 3, 3, 14, 0, tzinfo=UTC)  # a Wednesday afternoon
THURSDAY_MORNING = datetime(2027, 3, 4, 7, 0, tzinfo=UTC)  # 08:00 in Stockholm


def _rec(
    state: SessionState = S.BOOKED, *, end: datetime = END, verified: bool = False
) -> SessionRecord:
    return SessionRecord(
        key=f"cp{state.value}{end:%d%H}",
        org_id="acme",
        team_id="t1",
        manager_id="boss",
        seller_id="s1",
        month=MONTH,
        attempt=1,
        state=state,
        start=end - timedelta(minutes=45),
        end=end,
        verified=verified,
    )


def _into(rec: SessionRecord, detail: str) -> list[StateChange]:
    return [StateChange(rec.key, END, S.BOOKED, rec.state, detail)]


def test_sessions_owed_a_reminder_the_next_working_morning() -> None:
    booked = _rec()
    presumed = _rec(S.HELD)
    marked = replace(_rec(S.HELD), key="cpmarked")
    verified = replace(_rec(S.NO_SHOW, verified=True), key="cpverified")
    cancelled = _rec(S.CANCELLED)
    today = _rec(end=THURSDAY_MORNING - timedelta(minutes=30))  # 07:30 Stockholm: today
    history = {
        presumed.key: _into(presumed, "presumed held: the time passed, not cancelled"),
        marked.key: _into(marked, "marked by manager (web)"),
        verified.key: _into(verified, "attendance reported by the provider"),
    }
    records = [booked, presumed, marked, verified, cancelled, today]
    due = due_reminders(records, history, THURSDAY_MORNING, ZONE, WEEKDAYS, set())
    assert {r.key for r in due} == {booked.key, presumed.key}


def test_no_reminders_on_days_off_and_none_for_sessions_long_gone() -> None:
    saturday = datetime(2027, 3, 6, 7, 0, tzinfo=UTC)
    assert due_reminders([_rec()], {}, saturday, ZONE, WEEKDAYS, set()) == []
    holiday = {date(2027, 3, 4)}
    assert due_reminders([_rec()], {}, THURSDAY_MORNING, ZONE, WEEKDAYS, holiday) == []
    old = _rec(end=THURSDAY_MORNING - timedelta(days=8))
    assert due_reminders([old], {}, THURSDAY_MORNING, ZONE, WEEKDAYS, set()) == []
    # A Sunday-to-Thursday week: Friday is off, Sunday is not.
    sunday = datetime(2027, 3, 7, 7, 0, tzinfo=UTC)
    assert due_reminders([_rec()], {}, sunday, ZONE, frozenset({6, 0, 1, 2, 3}), set())


# -- sending, once ---------------------------------------------------------------------


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(load_settings(web_org(tmp_path, "https://coachpass.acme.example")))
    assert book_month(runtime, MONTH, BOOKED_AT).created == 3
    yield runtime
    runtime.close()


def _next_morning(end: datetime) -> datetime:
    """08:00 Stockholm on the first weekday after `end`'s day."""
    day = end.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 7, 0, tzinfo=UTC)


def test_each_unrecorded_session_is_reminded_once_the_next_working_morning(
    rt: Runtime, tmp_path: Path
) -> None:
    by_seller = {r.seller_id: r for r in rt.store.sessions(month=MONTH)}
    recorded = by_seller["s1"]
    assert recorded.end is not None
    mark_session(rt, recorded.key, S.HELD, now=recorded.end, note="fine", source="web")
    sent: dict[datetime, tuple[tuple[str, int], ...]] = {}
    for seller in sorted(by_seller, key=lambda s: by_seller[s].end or BOOKED_AT):
        end = by_seller[seller].end
        assert end is not None
        during = send_reminders(rt, end - timedelta(minutes=10))
        assert during.sent == (), "not before the session ended"
        morning = _next_morning(end)
        sent[morning] = send_reminders(rt, morning).sent
        assert send_reminders(rt, morning + timedelta(hours=3)).sent == (), "once"
    assert sorted(sent.values()) == [(), (("boss", 1),), (("boss", 1),)]
    mails = notices(tmp_path / "outbox", REMINDER)
    assert len(mails) == 2 and all(m["To"] == "Boss <boss@example.com>" for m in mails)
    reminded = sorted(name for m in mails for name in links_by_seller(m))
    assert reminded == ["S2", "S3"], "S1 was recorded by the manager"
    for m in mails:
        assert all(
            v.startswith("https://coachpass.acme.example/m/") for v in links_by_seller(m).values()
        )


def test_without_a_web_block_notices_say_how_to_get_links(tmp_path: Path) -> None:
    rt = Runtime.open(load_settings(write_org(tmp_path)))
    try:
        book_month(rt, MONTH, BOOKED_AT)
        assert send_booked_notices(rt, BOOKED_AT).sent == (("boss", 3),)
    finally:
        rt.close()
    [mail] = notices(tmp_path / "outbox", BOOKED)
    text = text_of(mail)
    assert "/m/" not in text and "`web:` block" in text


class _Refusing:
    def __init__(self, may_have_sent: bool) -> None:
        self.may_have_sent = may_have_sent
        self.calls = 0

    def send(self, message: EmailMessage) -> str:
        self.calls += 1
        raise MailError("550 no", may_have_sent=self.may_have_sent)


def test_a_refused_notice_is_sent_by_the_next_run(rt: Runtime, tmp_path: Path) -> None:
    real = rt.mailer()
    rt._mailer = _Refusing(may_have_sent=False)  # type: ignore[assignment]
    failed = send_booked_notices(rt, BOOKED_AT)
    assert failed.sent == () and "the next run tries again" in failed.failed[0]
    assert notice_store(rt).claimed([r.key for r in rt.store.sessions()], BOOKED) == set()
    rt._mailer = real
    assert send_booked_notices(rt, BOOKED_AT).sent == (("boss", 3),)
    assert len(notices(tmp_path / "outbox", BOOKED)) == 1


def test_a_send_cut_off_midway_is_listed_and_never_resent(rt: Runtime, tmp_path: Path) -> None:
    refusing = _Refusing(may_have_sent=True)
    real = rt.mailer()
    rt._mailer = refusing  # type: ignore[assignment]
    cut = send_booked_notices(rt, BOOKED_AT)
    assert "outcome unknown" in cut.unknown[0]
    rt._mailer = real
    assert send_booked_notices(rt, BOOKED_AT + timedelta(hours=1)).sent == ()
    assert notices(tmp_path / "outbox", BOOKED) == [] and refusing.calls == 1
    unsettled = notice_store(rt).unsettled(rt.org.id, now=BOOKED_AT)
    assert {r["status"] for r in unsettled} == {UNKNOWN} and len(unsettled) == 3


def test_two_instances_claiming_one_notice_one_wins(rt: Runtime) -> None:
    key = rt.store.sessions()[0].key
    a, b = NoticeStore(rt.store.engine), NoticeStore(rt.store.engine)
    assert a.claim("acme", key, REMINDER, "boss", now=BOOKED_AT)
    assert not b.claim("acme", key, REMINDER, "boss", now=BOOKED_AT)
    a.sent([key], REMINDER, message_id="<m@x>", now=BOOKED_AT)
    assert [r["status"] for r in a.of_session(key)] == [SENT]
    # A batch that meets one claimed session still claims the others, once.
    keys = [r.key for r in rt.store.sessions()]
    assert sorted(b.claim_many("acme", keys, REMINDER, "boss", now=BOOKED_AT)) == sorted(
        k for k in keys if k != key
    )
    assert a.claim_many("acme", keys, REMINDER, "boss", now=BOOKED_AT) == []


def test_a_sender_that_died_after_claiming_is_never_repeated_and_is_listed(
    rt: Runtime, tmp_path: Path
) -> None:
    # What a crash between the claim and the mail server's answer leaves behind.
    store = notice_store(rt)
    keys = [r.key for r in rt.store.sessions(month=MONTH)]
    for key in keys:
        assert store.claim("acme", key, BOOKED, "boss", now=BOOKED_AT)
    assert send_booked_notices(rt, BOOKED_AT + timedelta(minutes=5)).sent == ()
    assert notices(tmp_path / "outbox", BOOKED) == []
    assert store.unsettled("acme", now=BOOKED_AT + timedelta(minutes=5)) == [], "may be live"
    stale = store.unsettled("acme", now=BOOKED_AT + timedelta(minutes=31))
    assert sorted(r["session_key"] for r in stale) == sorted(keys)
