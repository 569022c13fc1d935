"""The manager's page over real sockets: a local-calendar organisation booked for a
month, the links from the "sessions booked" e-mail, and the page's server on
127.0.0.1 with a pinned clock."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest

from scheduler.model import Month, SessionRecord, SessionState
from scheduler.report.outcomes import Source, outcome_source
from scheduler.runtime import Runtime
from scheduler.sessions.agenda import _followup_lines as agenda_followups
from scheduler.sessions.booking import book_month
from scheduler.sessions.followups import followup_items
from scheduler.settings.load import load_settings
from scheduler.store.notices import DONE, PENDING, NoticeStore
from scheduler.web.keys import signer as load_signer
from scheduler.web.notices import send_booked_notices
from scheduler.web.requests import perform_requests
from scheduler.web.server import PageServer
from scheduler.web.tokens import Signer
from tests.service.procs import free_port
from tests.web.helpers import links_by_seller, notices, web_org

MONTH = Month(2027, 3)
BOOKED_AT = datetime(2027, 2, 20, 8, 0, tzinfo=UTC)


@dataclass
class World:
    rt: Runtime
    base: str
    clock: list[datetime]
    links: dict[str, str]  # seller name -> link
    cookies: dict[str, str] = field(default_factory=dict)

    def session(self, seller_id: str) -> SessionRecord:
        [rec] = [r for r in self.rt.store.sessions(month=MONTH) if r.seller_id == seller_id]
        return rec

    def request(
        self,
        method: str,
        path: str,
        fields: dict[str, Any] | None = None,
        *,
        origin: str | None = None,
        cookie: bool = True,
    ) -> tuple[int, dict[str, str], str]:
        url = urlsplit(path)
        target = url.path + (f"?{url.query}" if url.query else "")
        conn = http.client.HTTPConnection("127.0.0.1", int(urlsplit(self.base).port or 80))
        headers = {}
        body = None
        if fields is not None:
            body = urlencode(fields, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if origin:
            headers["Origin"] = origin
        if cookie and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode()
        got = {k.lower(): v for k, v in resp.getheaders()}
        if "set-cookie" in got:
            name, _, rest = got["set-cookie"].partition("=")
            self.cookies[name] = rest.split(";")[0]
        conn.close()
        return resp.status, got, text

    def csrf(self, link: str) -> str:
        status, _, text = self.request("GET", link)
        assert status == 200, text
        match = re.search(r'name="csrf" value="([^"]+)"', text)
        assert match, text
        return match.group(1)

    def snapshot(self) -> tuple[Any, ...]:
        store = self.rt.store
        return (
            store.sessions(),
            [(c.key, c.to_state, c.detail) for c in store.history()],
            NoticeStore(store.engine).pending_requests(self.rt.org.id),
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    rt = Runtime.open(load_settings(web_org(tmp_path, base)))
    summary = book_month(rt, MONTH, BOOKED_AT)
    assert summary.created == 3
    sent = send_booked_notices(rt, BOOKED_AT)
    assert sent.sent == (("boss", 3),)
    [notice] = notices(tmp_path / "outbox", "booked")
    clock = [BOOKED_AT]
    server = PageServer(rt, f"127.0.0.1:{port}", clock=lambda: clock[0])
    try:
        yield World(rt, base, clock, links_by_seller(notice))
    finally:
        server.close()
        rt.close()


def _after(world: World, seller_id: str) -> None:
    end = world.session(seller_id).end
    assert end is not None
    world.clock[0] = end + timedelta(hours=1)


def test_booked_notice_lists_each_session_once_and_invitations_carry_no_link(
    world: World, tmp_path: Path
) -> None:
    assert sorted(world.links) == ["S1", "S2", "S3"]
    assert all(link.startswith(world.base + "/m/") for link in world.links.values())
    assert len(set(world.links.values())) == 3
    again = send_booked_notices(world.rt, BOOKED_AT + timedelta(hours=1))
    assert again.sent == () and len(notices(tmp_path / "outbox", "booked")) == 1
    for path in [*(tmp_path / "outbox").glob("*.eml"), *(tmp_path / "calendars").glob("*.ics")]:
        raw = path.read_bytes()
        if b"X-Coachpass-Notice" not in raw:
            assert b"/m/" not in raw, f"{path.name} (shared with the seller) carries a link"


def test_the_page_shows_its_session_only_with_safe_headers(world: World) -> None:
    status, headers, text = world.request("GET", world.links["S1"])
    assert status == 200
    assert "S1" in text and "S2" not in text and "S3" not in text
    assert world.session("s1").key not in text, "not even the key of its own session"
    assert "SameSite=Strict" in headers["set-cookie"] and "HttpOnly" in headers["set-cookie"]
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "<script" not in text


def test_mark_held_with_note_and_followups_as_sessions_mark_stores_them(world: World) -> None:
    _after(world, "s1")
    link = world.links["S1"]
    csrf = world.csrf(link)
    status, headers, _ = world.request(
        "POST",
        link + "/mark",
        {
            "csrf": csrf,
            "outcome": "held",
            "note": "Good talk about <b>pipeline</b>",
            "followup": ["Call Acme; then Beta, by Friday", "Practise the demo", ""],
        },
        origin=world.base,
    )
    assert status == 303 and headers["location"].endswith("?saved=1")
    rec = world.session("s1")
    assert rec.state is SessionState.HELD
    assert rec.note == "Good talk about <b>pipeline</b>"
    # Each follow-up stays one item, ";" and all, in the next agenda too.
    expected = ["Call Acme; then Beta, by Friday", "Practise the demo"]
    assert followup_items(rec.followups) == expected
    assert agenda_followups(rec.followups) == expected
    history = world.rt.store.history(keys=[rec.key])
    assert history[-1].detail == "marked by manager (web)"
    assert outcome_source(rec, history) is Source.MANAGER
    status, _, text = world.request("GET", headers["location"])
    assert status == 200 and "Call Acme; then Beta, by Friday" in text
    assert "&lt;b&gt;pipeline&lt;/b&gt;" in text, "the note is escaped"


def test_saving_an_empty_note_and_followups_clears_them(world: World) -> None:
    _after(world, "s1")
    link = world.links["S1"]
    form = {"outcome": "held", "note": "Talked", "followup": ["Call Acme", "", ""]}
    assert world.request("POST", link + "/mark", {"csrf": world.csrf(link), **form})[0] == 303
    cleared = {"outcome": "held", "note": "", "followup": ["", "", ""]}
    status, headers, _ = world.request(
        "POST", link + "/mark", {"csrf": world.csrf(link), **cleared}
    )
    assert status == 303
    rec = world.session("s1")
    assert (rec.note, rec.followups) == ("", ""), "the page sends what the form holds"
    status, _, text = world.request("GET", headers["location"])
    assert "Call Acme" not in text and "Talked" not in text


def test_forms_without_the_csrf_cookie_value_or_from_elsewhere_change_nothing(
    world: World,
) -> None:
    _after(world, "s1")
    link = world.links["S1"]
    csrf = world.csrf(link)
    before = world.snapshot()
    form = {"csrf": csrf, "outcome": "no_show", "note": "x"}
    status, _, text = world.request("POST", link + "/mark", {**form, "csrf": "forged"})
    assert status == 403 and "Nothing was changed" in text
    assert world.request("POST", link + "/mark", form, cookie=False)[0] == 403
    assert world.request("POST", link + "/mark", form, origin="https://evil.example")[0] == 403
    other = world.links["S2"]
    assert world.request("POST", other + "/mark", form)[0] == 403, "csrf of another page"
    assert world.request("GET", link + "/mark")[0] == 405
    assert world.snapshot() == before


def _forged(world: World) -> dict[str, str]:
    """Tokens that must all get 403: tampered, expired, other-session, other manager,
    and one signed by a key this installation does not know."""
    web = world.rt.settings.web
    assert web is not None
    signer = load_signer(web)
    s1, s2 = world.session("s1"), world.session("s2")
    token1 = world.links["S1"].rsplit("/", 1)[1]
    token2 = world.links["S2"].rsplit("/", 1)[1]
    payload, mac = token1.split(".")
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    far = BOOKED_AT + timedelta(days=400)
    return {
        "tampered": f"{payload}.{flipped}",
        "expired": signer.sign(s1.key, "boss", BOOKED_AT - timedelta(seconds=1)),
        "other-session": f"{token2.split('.')[0]}.{mac}",
        "other-manager": signer.sign(s2.key, "s1", far),
        "unknown-key": Signer.of(b"z" * 40).sign(s1.key, "boss", far),
        "unknown-session": signer.sign("cp" + "0" * 32, "boss", far),
    }


def test_bad_tokens_get_403_and_nothing_changes(world: World) -> None:
    _after(world, "s1")
    csrf = world.csrf(world.links["S1"])
    before = world.snapshot()
    for name, token in _forged(world).items():
        path = f"/m/{token}"
        status, _, text = world.request("GET", path)
        assert status == 403, name
        assert "S1" not in text and "S2" not in text, name
        form = {"csrf": csrf, "outcome": "held", "note": name}
        assert world.request("POST", path + "/mark", form)[0] == 403, name
        assert world.request("POST", path + "/new-time", {"csrf": csrf})[0] == 403, name
    assert world.snapshot() == before


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"outcome": "held", "note": "n" * 1001}, "keep it to 1000"),
        ({"outcome": "held", "followup": ["ok", "bad\u0007bell"]}, "Follow-up 2 holds a control"),
        ({"outcome": "held", "followup": ["a", "b", "c", "d"]}, "at most 3 follow-ups"),
        ({"outcome": "held", "followup": ["f" * 201]}, "keep it to 200"),
        ({"outcome": "maybe"}, "Choose held or no-show"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_changes(
    world: World, fields: dict[str, Any], message: str
) -> None:
    _after(world, "s1")
    link = world.links["S1"]
    csrf = world.csrf(link)
    before = world.snapshot()
    status, _, text = world.request("POST", link + "/mark", {"csrf": csrf, **fields})
    assert status == 400 and message in text
    assert world.snapshot() == before


def test_ask_for_a_new_time_is_recorded_then_done_by_the_leader(
    world: World, tmp_path: Path
) -> None:
    old = world.session("s2")
    assert old.start is not None
    world.clock[0] = old.start - timedelta(days=3)
    link = world.links["S2"]
    status, _, text = world.request("GET", link)
    assert 'id="save"' not in text, "nothing to record before the session"
    csrf = world.csrf(link)
    mark = {"csrf": csrf, "outcome": "held"}
    status, _, text = world.request("POST", link + "/mark", mark)
    assert status == 400 and "cannot be marked before it begins" in text
    status, headers, _ = world.request("POST", link + "/new-time", {"csrf": csrf})
    assert status == 303
    assert world.request("POST", link + "/new-time", {"csrf": csrf})[0] == 303, "clicked twice"
    asked = [c for c in world.rt.store.history(keys=[old.key]) if "new time" in c.detail]
    assert len(asked) == 1, "one request, one history entry"
    notices_store = NoticeStore(world.rt.store.engine)
    assert notices_store.request_of(old.key)["status"] == PENDING  # type: ignore[index]
    assert world.session("s2").state is old.state, "the page writes no calendar"
    status, _, text = world.request("GET", headers["location"])
    assert "Coachpass is cancelling this session" in text and 'id="new_time"' not in text

    [result] = perform_requests(world.rt, world.clock[0])
    assert result.ok, result.detail
    sessions = {r.attempt: r for r in world.rt.store.sessions(month=MONTH) if r.seller_id == "s2"}
    assert sessions[1].state is SessionState.CANCELLED
    assert sessions[2].state is SessionState.BOOKED
    first, second = sessions[1].start, sessions[2].start
    assert first is not None and second is not None
    # Not the slot just given up, nor its day: the seller got its cancellation.
    assert first.date() != second.date(), (first, second)
    details = [c.detail for c in world.rt.store.history(keys=[old.key])]
    assert "new time asked by manager (web)" in details
    assert any(d.startswith("cancelled by manager (web)") for d in details)
    assert notices_store.request_of(old.key)["status"] == DONE  # type: ignore[index]
    booked = [links_by_seller(m) for m in notices(tmp_path / "outbox", "booked")]
    assert len(booked) == 2
    [new_links] = [b for b in booked if len(b) == 1]
    assert list(new_links) == ["S2"] and new_links["S2"] != link
    status, _, text = world.request("GET", link)
    assert "Done: cancelled; new time booked" in text
    assert perform_requests(world.rt, world.clock[0]) == [], "done once"


def test_saved_says_where_the_followups_go(world: World) -> None:
    """Into the next agenda when the next session is not booked yet; when it is, its
    invitation predates them: the page says so, with its date."""
    _after(world, "s1")
    link = world.links["S1"]
    form = {"outcome": "held", "note": "", "followup": ["Call Acme", "", ""]}
    status, headers, _ = world.request("POST", link + "/mark", {"csrf": world.csrf(link), **form})
    assert status == 303
    text = world.request("GET", headers["location"])[2]
    assert "go into the agenda of the next session when Coachpass books it" in text
    assert 'id="followups_note"' not in text

    april = book_month(world.rt, Month(2027, 4), world.clock[0])
    assert april.created == 3
    [following] = [r for r in world.rt.store.sessions(month=Month(2027, 4)) if r.seller_id == "s1"]
    assert following.start is not None
    status, headers, _ = world.request("POST", link + "/mark", {"csrf": world.csrf(link), **form})
    text = world.request("GET", headers["location"])[2]
    assert "next session when Coachpass books it" not in text
    assert "S1&#39;s next session" in text and "is booked already" in text, text
    assert f" {following.start.day} April 2027" in text, "the next session's date"
    assert 'id="followups_note"' in text, "the form says it too"


def test_the_status_line_says_how_an_outcome_is_known_in_the_reports_words(
    world: World,
) -> None:
    _after(world, "s1")
    s1 = world.session("s1")
    world.rt.store.transition(s1.key, SessionState.HELD, now=world.clock[0], detail="presumed")
    text = world.request("GET", world.links["S1"])[2]
    assert 'id="status">Held (presumed)<' in text, text
    form = {"csrf": world.csrf(world.links["S1"]), "outcome": "no_show"}
    assert world.request("POST", world.links["S1"] + "/mark", form)[0] == 303
    text = world.request("GET", world.links["S1"])[2]
    assert 'id="status">No-show (marked by the manager)<' in text
    world.rt.store.transition(world.session("s2").key, SessionState.CANCELLED, now=world.clock[0])
    text = world.request("GET", world.links["S2"])[2]
    assert 'id="status">Cancelled<' in text and "This session is cancelled" in text


def test_the_status_line_in_swedish() -> None:
    from types import SimpleNamespace

    from scheduler.web.app import PageApp
    from scheduler.web.texts import texts

    page = SimpleNamespace(t=texts("sv"))
    base = SessionRecord("k", "o", "t", "m", "s", MONTH, 1, SessionState.HELD)
    held = PageApp._status(page, base, [])  # type: ignore[arg-type]
    assert held == "Genomförd (antaget)"
    verified = PageApp._status(page, replace(base, verified=True), [])  # type: ignore[arg-type]
    assert verified == "Genomförd (verifierat av mötestjänsten)"
    for state, word in [
        (SessionState.BOOKED, "Bokad"),
        (SessionState.CANCELLED, "Inställd"),
        (SessionState.DECLINED, "Avböjd av säljaren"),
    ]:
        assert PageApp._status(page, replace(base, state=state), []) == word  # type: ignore[arg-type]


def test_a_new_time_with_only_the_given_up_day_free_says_there_is_no_room(
    world: World, tmp_path: Path
) -> None:
    old = world.session("s2")
    assert old.start is not None
    zone = ZoneInfo("Europe/Stockholm")
    day = old.start.astimezone(zone).date()
    midnight = datetime.combine(day, time(), zone).astimezone(UTC)
    busy = [
        (datetime(2027, 2, 28, tzinfo=UTC), midnight),
        (midnight + timedelta(days=1), datetime(2027, 4, 2, tzinfo=UTC)),
    ]
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:away-{n}@test\r\nDTSTAMP:20270101T000000Z\r\n"
        f"DTSTART:{a:%Y%m%dT%H%M%SZ}\r\nDTEND:{b:%Y%m%dT%H%M%SZ}\r\nSUMMARY:Away\r\n"
        f"END:VEVENT\r\n"
        for n, (a, b) in enumerate(busy)
    )
    calendar = tmp_path / "calendars" / "s2.ics"
    calendar.write_text(calendar.read_text().replace("END:VCALENDAR", events + "END:VCALENDAR"))
    world.clock[0] = old.start - timedelta(days=3)
    link = world.links["S2"]
    assert world.request("POST", link + "/new-time", {"csrf": world.csrf(link)})[0] == 303
    [result] = perform_requests(world.rt, world.clock[0])
    assert result.ok and "no new time this month" in result.detail, result.detail
    sessions = [r for r in world.rt.store.sessions(month=MONTH) if r.seller_id == "s2"]
    assert not [r for r in sessions if r.state is SessionState.BOOKED], "not the same day again"
    text = world.request("GET", link)[2]
    assert "cancelled; no new time this month" in text
