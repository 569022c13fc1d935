"""Send the monthly report once per recipient, and never twice without being asked.

A send is a claim row in the store (`sending`), the hand-over to the mailer, then
`sent`. A crash between the server taking the mail and the store saying `sent`
leaves the claim `sending`, and from the store alone nobody can tell whether the
mail arrived. So every send runs under one named lock per organisation and month
(`scheduler.store.lock`; the kernel or PostgreSQL drops it when its holder dies):

- the lock is taken by someone else: a live process is sending right now
  ("in flight elsewhere");
- we hold the lock and find a `sending` claim: its sender died mid-send. It is
  recorded `unknown`, logged as an error, and reported ("outcome unknown"); it is
  never resent by itself. Only `report --resend` (sends a new copy) or
  `report --mark-delivered` (records that it arrived) resolves it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from connectors.base import ConnectorError
from scheduler.errors import AlreadySent, ReportNotDue, UserError
from scheduler.model import Month
from scheduler.runtime import Runtime
from scheduler.store.lock import NamedLock
from scheduler.store.store import SENDING, UNKNOWN

if TYPE_CHECKING:
    from scheduler.report.render import ReportData

log = logging.getLogger(__name__)

SENT = "sent"
ALREADY_SENT = "already sent"
IN_FLIGHT = "in flight elsewhere"
OUTCOME_UNKNOWN = "outcome unknown"
MARKED_DELIVERED = "marked delivered"
NOTHING_TO_MARK = "nothing to mark"
FAILED = "failed"
#: Statuses that leave the month's report not known to be done (exit code 3).
NOT_DONE = (IN_FLIGHT, OUTCOME_UNKNOWN, FAILED)


@dataclass(frozen=True)
class SendOutcome:
    recipient: str
    status: str  # one of the constants above
    message_id: str = ""
    detail: str = ""  # why, and what to do, for the not-done statuses


def _digest(text: str) -> str:
    return hashlib.sha256(text.lower().encode()).hexdigest()[:12]


def build_month_report(
    rt: Runtime, month: Month, now: datetime, recipients: list[str]
) -> EmailMessage:
    from scheduler.report.render import build_report

    data = month_report_data(rt, month)
    return build_report(
        data.org,
        month,
        data.kpi,
        data.trend,
        sender=rt.settings.mail.sender,
        recipients=recipients,
        templates_dir=rt.settings.templates_dir,
        generated_at=now,
        previous=data.previous,
        sessions=data.sessions,
        history=data.history,
    )


def month_report_data(rt: Runtime, month: Month) -> ReportData:
    """The month's KPIs, last month's (for the changes), the six-month trend and the
    sessions behind the per-session CSV, read from the store."""
    from scheduler.report.kpi import compute_month
    from scheduler.report.render import ReportData
    from scheduler.report.trend import has_data, last_months, trend

    org = rt.org
    sessions = rt.store.sessions(org_id=org.id, month=month)
    history = rt.store.history(org_id=org.id, month=month)
    kpi = compute_month(org, month, sessions, history)
    months = last_months(month)
    window = rt.store.sessions(org_id=org.id, months=months)
    previous = None
    if has_data(org, month.previous(), window):
        before = month.previous()
        previous = compute_month(org, before, window, rt.store.history(org_id=org.id, month=before))
    return ReportData(org, month, kpi, trend(org, months, window), previous, sessions, history)


def report_lock(rt: Runtime, month: Month) -> NamedLock:
    return NamedLock(rt.store.engine, f"report:{rt.org.id}:{month}")


def _recipients(rt: Runtime, only: list[str] | None) -> list[str]:
    """The leadership recipients, or those of them named in `only` (`--to`). The
    report goes to leadership only: any other address is a user error, which also
    keeps a line break or a made-up address out of the mail headers."""
    leadership = [r.email for r in rt.org.leadership]
    if not leadership:
        raise UserError(f"{rt.settings.source}: no 'leadership' recipients to send the report to")
    if not only:
        return leadership
    known = {e.lower(): e for e in leadership}
    strangers = [a for a in only if a.strip().lower() not in known]
    if strangers:
        raise UserError(
            f"--to {strangers[0]!r} is not a leadership recipient in {rt.settings.source}; "
            f"the report goes to: {', '.join(leadership)} (add others under 'leadership:')"
        )
    return [known[a.strip().lower()] for a in only]


def unknown_detail(month: Month, recipient: str, row: dict[str, Any]) -> str:
    return (
        f"the send started {row['claimed_at']:%Y-%m-%d %H:%M %Z} (Message-ID "
        f"{row['message_id']}) stopped after the mail may have been handed over; "
        f"ask {recipient} or check the mail server's log, then run `coachpass report "
        f"--month {month} --mark-delivered --to {recipient}` if it arrived, or "
        f"`coachpass report --month {month} --resend --to {recipient}` if it did not"
    )


def _settle_dead_claim(rt: Runtime, month: Month, recipient: str) -> dict[str, Any] | None:
    """Under the lock: the last claim if its outcome is unknown (recording a dead
    sender's `sending` claim as `unknown` on the way), else None."""
    last = rt.store.last_report_claim(rt.org.id, month, recipient)
    if last is None or last["status"] not in (SENDING, UNKNOWN):
        return None
    if last["status"] == SENDING:
        rt.store.mark_report_unknown(int(last["id"]))
        last = {**last, "status": UNKNOWN}
    log.error(
        "report %s to %s: outcome unknown: %s",
        month,
        recipient,
        unknown_detail(month, recipient, last),
    )
    return last


def check_report_due(rt: Runtime, month: Month, now: datetime) -> None:
    """Raise `ReportNotDue` unless `month` is over (in the organisation's zone) and
    this installation booked sessions in it: a first run must not mail leadership a
    0 % report for a month Coachpass never took part in."""
    current = rt.month_of(now)
    if (month.year, month.month) >= (current.year, current.month):
        raise ReportNotDue(
            f"the {month} report is not due: the month is not over yet (it ends "
            f"{month.last_day}); preview it with `coachpass report --month {month}`, "
            f"or add --force to send it anyway"
        )
    if rt.store.booked_in(rt.org.id, month) == 0:
        raise ReportNotDue(
            f"no report for {month}: this installation booked no sessions in it "
            f"(the store was created {rt.store.created_at():%Y-%m-%d}); "
            f"add --force to send it anyway"
        )


def send_report(
    rt: Runtime,
    month: Month,
    now: datetime,
    *,
    resend: bool = False,
    only: list[str] | None = None,
    build: Callable[[Runtime, Month, datetime, list[str]], EmailMessage] | None = None,
    force: bool = False,
) -> list[SendOutcome]:
    """Send the month's report to each leadership recipient, once per recipient.

    Each recipient gets their own message so a resend to one never repeats another's,
    and one recipient's failure never stops the others (its outcome says why).
    Raises `AlreadySent` when every recipient had it already and this is no resend,
    and `ReportNotDue` (unless `force`) for a month that is not over or had nothing
    booked by this installation.
    """
    if not force:
        check_report_due(rt, month, now)
    build = build or build_month_report
    recipients = _recipients(rt, only)
    lock = report_lock(rt, month)
    if not lock.try_acquire():
        return [
            SendOutcome(r, IN_FLIGHT, detail="another running Coachpass process is sending it now")
            for r in recipients
        ]
    try:
        mailer = rt.mailer()
        outcomes = [_send_one(rt, mailer, month, now, r, resend, build) for r in recipients]
    finally:
        lock.release()
    if not resend and all(o.status == ALREADY_SENT for o in outcomes):
        raise AlreadySent(
            f"the {month} report was sent already to {', '.join(recipients)}; "
            f"use --resend to send it again"
        )
    return outcomes


def _send_one(
    rt: Runtime,
    mailer: Any,
    month: Month,
    now: datetime,
    recipient: str,
    resend: bool,
    build: Callable[[Runtime, Month, datetime, list[str]], EmailMessage],
) -> SendOutcome:
    unknown = _settle_dead_claim(rt, month, recipient)
    if unknown is not None:
        if not resend:
            return SendOutcome(
                recipient,
                OUTCOME_UNKNOWN,
                str(unknown["message_id"]),
                unknown_detail(month, recipient, unknown),
            )
        # The admin says it did not arrive (or wants another copy anyway).
        rt.store.resolve_report(int(unknown["id"]), delivered=False, now=now)
    # Built before the claim: a failure here leaves nothing half claimed.
    message = build(rt, month, now, [recipient])
    domain = rt.settings.mail.sender.rsplit("@", 1)[-1].strip(">").strip() or "coachpass"
    claim = rt.store.claim_report(
        rt.org.id,
        month,
        recipient,
        resend=resend,
        now=now,
        # One Message-ID per (org, month, recipient, send): two recipients' copies
        # are two messages, and a mail system can tell a resend by its sequence.
        message_id=f"<coachpass.report.{rt.org.id}.{month}.{_digest(recipient)}@{domain}>",
    )
    if claim is None:
        return SendOutcome(recipient, ALREADY_SENT)
    claim_id, message_id = claim
    del message["Message-ID"]
    message["Message-ID"] = message_id
    try:
        mailer.send(message)
    except ConnectorError as exc:
        if getattr(exc, "may_have_sent", False):
            # Cut off during DATA: the server may have the mail. Same as a crash.
            rt.store.mark_report_unknown(claim_id)
            row = rt.store.last_report_claim(rt.org.id, month, recipient) or {}
            detail = f"{exc}; " + unknown_detail(month, recipient, row)
            log.error("report %s to %s: outcome unknown: %s", month, recipient, detail)
            return SendOutcome(recipient, OUTCOME_UNKNOWN, message_id, detail)
        # Refused for certain (an error reply, no connection): free the claim so
        # the next run tries again.
        rt.store.release_report(claim_id)
        return SendOutcome(recipient, FAILED, detail=f"{exc}; the next run tries again")
    rt.store.mark_report_sent(claim_id, now=now)
    return SendOutcome(recipient, SENT, message_id)


def mark_delivered(
    rt: Runtime, month: Month, now: datetime, *, only: list[str] | None = None
) -> list[SendOutcome]:
    """Record that the sends with an unknown outcome did arrive (an admin checked)."""
    recipients = _recipients(rt, only)
    lock = report_lock(rt, month)
    if not lock.try_acquire():
        return [
            SendOutcome(r, IN_FLIGHT, detail="another running Coachpass process is sending it now")
            for r in recipients
        ]
    try:
        outcomes = []
        for recipient in recipients:
            unknown = _settle_dead_claim(rt, month, recipient)
            if unknown is None:
                outcomes.append(SendOutcome(recipient, NOTHING_TO_MARK))
                continue
            rt.store.resolve_report(int(unknown["id"]), delivered=True, now=now)
            outcomes.append(SendOutcome(recipient, MARKED_DELIVERED, str(unknown["message_id"])))
    finally:
        lock.release()
    return outcomes
