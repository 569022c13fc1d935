"""Send the manager's notices once: claim in the store, send, record.

- booked: after a booking run, every booked session still ahead whose manager has
  not had its link yet (so a notice that failed for certain is sent by the next run,
  and a rebook's new session gets its own link);
- reminder: on a working morning, every session that ended without an outcome the
  manager or the provider recorded (`scheduler.web.due`).

One e-mail per manager per run, listing that manager's sessions; one manager's
failure never stops the others. Mail goes through the runtime's (fenced) mailer.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holiday_data

from connectors.base import ConnectorError
from scheduler.model import SessionRecord, SessionState, StateChange
from scheduler.runtime import Runtime
from scheduler.sessions.agenda import load_messages, month_name
from scheduler.store.notices import BOOKED, REMINDER, NoticeStore
from scheduler.web.due import due_reminders, is_working_day
from scheduler.web.keys import signer as load_signer
from scheduler.web.links import manager_link
from scheduler.web.mails import Line, build_notice, when_text
from scheduler.web.texts import texts

log = logging.getLogger("coachpass.notices")


@dataclass(frozen=True)
class NoticeSummary:
    kind: str
    sent: tuple[tuple[str, int], ...] = ()  # (manager id, sessions listed)
    failed: tuple[str, ...] = ()  # one line per manager: why, and that the next run retries
    unknown: tuple[str, ...] = ()  # sends cut off mid-way: never resent by themselves
    skipped: str = ""  # why nothing was looked at (a day off)
    linked: bool = True  # the e-mails carried page links (a `web:` block is configured)

    def failures(self) -> list[str]:
        return list(self.failed) + list(self.unknown)

    @property
    def sessions(self) -> int:
        return sum(n for _, n in self.sent)

    def said(self) -> str:
        """What went out, e.g. "3 links to 1 manager" (or "3 sessions e-mailed to
        1 manager" without the page: there are no links then)."""
        n, managers = self.sessions, len(self.sent)
        to = f"{managers} manager" + ("" if managers == 1 else "s")
        if self.kind == BOOKED and self.linked:
            return f"{n} link" + ("" if n == 1 else "s") + f" to {to}"
        return f"{n} session" + ("" if n == 1 else "s") + f" e-mailed to {to}"


def notice_store(rt: Runtime) -> NoticeStore:
    return NoticeStore(rt.store.engine, lambda: rt.fence())


def _link_maker(rt: Runtime) -> Callable[[SessionRecord], str | None]:
    web = rt.settings.web
    if web is None:
        return lambda _record: None
    signer = load_signer(web)  # a missing or weak key stops here, before any claim
    return lambda record: manager_link(web, signer, record)


def send_booked_notices(rt: Runtime, now: datetime) -> NoticeSummary:
    """The "sessions booked" e-mail for every booked session ahead not yet notified."""
    ahead = [
        r
        for r in rt.store.sessions(
            org_id=rt.org.id, states=[SessionState.BOOKED, SessionState.RESCHEDULED]
        )
        if r.start is not None and r.start > now
    ]
    return _send(rt, BOOKED, ahead, now)


def org_holidays(rt: Runtime, around: date) -> set[date]:
    org = rt.org
    try:
        found = holiday_data.country_holidays(org.country, years=[around.year - 1, around.year])
    except NotImplementedError:  # a country the package does not know: no holidays
        return set()
    return set(found.keys())


def reminders_due(rt: Runtime, now: datetime) -> list[SessionRecord]:
    org = rt.org
    this = rt.month_of(now)
    records = rt.store.sessions(org_id=org.id, months=[this.previous(), this])
    recent = [r for r in records if r.end is not None and r.end > now - timedelta(days=8)]
    history: dict[str, list[StateChange]] = defaultdict(list)
    for change in rt.store.history(keys=[r.key for r in recent]) if recent else []:
        history[change.key].append(change)
    return due_reminders(
        recent,
        history,
        now,
        org.timezone,
        org.policy.working_hours.weekdays,
        org_holidays(rt, now.date()),
    )


def send_reminders(rt: Runtime, now: datetime) -> NoticeSummary:
    """One reminder per session that ended without a recorded outcome, on the next
    working morning."""
    org = rt.org
    today = now.astimezone(ZoneInfo(org.timezone)).date()
    if not is_working_day(today, org.policy.working_hours.weekdays, org_holidays(rt, today)):
        return NoticeSummary(REMINDER, skipped=f"{today} is not a working day: no reminders")
    due = reminders_due(rt, now)
    return _send(rt, REMINDER, due, now)


def _send(
    rt: Runtime, kind: str, candidates: Sequence[SessionRecord], now: datetime
) -> NoticeSummary:
    notices = notice_store(rt)
    done = notices.claimed([r.key for r in candidates], kind)
    todo = [r for r in candidates if r.key not in done]
    if not todo:
        return NoticeSummary(kind)
    link_of = _link_maker(rt)
    by_manager: dict[str, list[SessionRecord]] = defaultdict(list)
    for record in todo:
        by_manager[record.manager_id].append(record)
    sent: list[tuple[str, int]] = []
    failed: list[str] = []
    unknown: list[str] = []
    for manager_id, records in sorted(by_manager.items()):
        manager = rt.person(manager_id)
        if manager is None:
            continue  # left the organisation: nobody to write to
        ordered = sorted(records, key=lambda r: r.start or now)
        won = set(
            notices.claim_many(rt.org.id, [r.key for r in ordered], kind, manager_id, now=now)
        )
        claimed = [r for r in ordered if r.key in won]
        if not claimed:
            continue  # another instance has them
        keys = [r.key for r in claimed]
        try:
            message = _message(rt, kind, manager_id, claimed, link_of, now)
        except Exception:
            notices.release(keys, kind)
            raise
        try:
            message_id = rt.mailer().send(message)
        except ConnectorError as exc:
            if getattr(exc, "may_have_sent", False):
                notices.unknown(keys, kind, message_id=str(message["Message-ID"]))
                line = (
                    f"{kind} notice to {manager_id}: outcome unknown ({exc}); not resent, "
                    f"check the mail server's log"
                )
                log.error("%s", line)
                unknown.append(line)
            else:
                notices.release(keys, kind)
                failed.append(f"{kind} notice to {manager_id}: {exc}; the next run tries again")
            continue
        notices.sent(keys, kind, message_id=message_id, now=now)
        sent.append((manager_id, len(claimed)))
    linked = rt.settings.web is not None
    return NoticeSummary(kind, tuple(sent), tuple(failed), tuple(unknown), linked=linked)


def _message(
    rt: Runtime,
    kind: str,
    manager_id: str,
    records: Sequence[SessionRecord],
    link_of: Callable[[SessionRecord], str | None],
    now: datetime,
) -> EmailMessage:
    manager = rt.person(manager_id)
    assert manager is not None
    messages = load_messages(rt.settings.templates_dir, rt.org.language)
    say = texts(rt.org.language)
    lines = []
    for record in records:
        seller = rt.person(record.seller_id)
        when = (
            when_text(messages, record.start, record.end, manager.timezone)
            if record.start and record.end
            else month_name(messages, record.month)
        )
        lines.append(Line(seller.name if seller else record.seller_id, when, link_of(record)))
    months = sorted({r.month for r in records})
    subject_key = "booked_subject" if kind == BOOKED else "reminder_subject"
    # Without the page there is no link: the intro must not point at one.
    linked = any(line.link for line in lines)
    intro = "booked_intro" if kind == BOOKED else "reminder_intro"
    return build_notice(
        kind=kind,
        sender=rt.settings.mail.sender,
        manager=manager,
        subject=say[subject_key].format(
            count=len(records),
            sessions=say["session_one" if len(records) == 1 else "session_many"],
            month=", ".join(month_name(messages, m) for m in months),
        ),
        intro=say[intro if linked else f"{intro}_no_link"],
        lines=lines,
        no_link=say["no_link"],
        footer=say["footer"],
        now=now,
    )


def unsettled_notices(rt: Runtime, now: datetime) -> list[dict[str, Any]]:
    return notice_store(rt).unsettled(rt.org.id, now=now)
