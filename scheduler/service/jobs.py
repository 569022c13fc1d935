"""The service's jobs, each idempotent for its period and recorded in the store.

A job run is claimed in `job_runs` under (job, period) before it starts: a second
instance, a catch-up at start and a cron firing for the same period all find the
claim and do nothing twice. A failed run, or one whose process died, is retried by
the service's periodic catch-up (every 15 minutes) and at the next start.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from connectors.base import TransientError
from scheduler.errors import AlreadySent
from scheduler.model import Month
from scheduler.runtime import Runtime
from scheduler.sessions.booking import BookingSummary, book_month
from scheduler.sessions.reconcile import ReconcileSummary, reconcile

if TYPE_CHECKING:
    from scheduler.report.render import ReportData

JOBS = ("book_next_month", "top_up", "reconcile", "report")


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    """Whether the process that claimed a job run may still be running it. Only a
    process on this host can be checked; any other is presumed alive (its claim
    goes stale after a while instead)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def period_of(job: str, fire_time: datetime, timezone: str) -> str:
    """What a firing at `fire_time` is for: the unit its work is idempotent over.

    Read in the schedule's zone, whoever calls: the report firing at 08:00 on the 1st
    in Sydney is for the month that just ended there, though in UTC it is still the
    last day of that month."""
    fire_time = fire_time.astimezone(ZoneInfo(timezone))
    month = Month.of(fire_time)
    if job == "book_next_month":
        return str(month.next())
    if job == "report":
        return str(month.previous())
    if job == "top_up":
        return fire_time.date().isoformat()
    return fire_time.strftime("%Y-%m-%dT%H:%M")


# -- report -----------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.lower().encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SendOutcome:
    recipient: str
    status: str  # sent | already sent | in flight elsewhere
    message_id: str = ""


def _in_flight(rt: Runtime, month: Month, recipient: str) -> bool:
    rows = rt.store.sent_reports(rt.org.id, month)
    mine = [r for r in rows if r["recipient"] == recipient.lower()]
    return bool(mine) and mine[-1]["status"] == "sending"


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


def send_report(
    rt: Runtime,
    month: Month,
    now: datetime,
    *,
    resend: bool = False,
    only: list[str] | None = None,
) -> list[SendOutcome]:
    """Send the month's report to each leadership recipient, once per recipient.

    Each recipient gets their own message so a resend to one never repeats another's.
    Raises `AlreadySent` when every recipient had it already and this is no resend.
    """
    recipients = only or [r.email for r in rt.org.leadership]
    if not recipients:
        from scheduler.errors import UserError

        raise UserError(f"{rt.settings.source}: no 'leadership' recipients to send the report to")
    mailer = rt.mailer()
    domain = rt.settings.mail.sender.rsplit("@", 1)[-1].strip(">").strip() or "coachpass"
    outcomes: list[SendOutcome] = []
    for recipient in recipients:
        # Built before the claim: a failure here leaves nothing half claimed.
        message = build_month_report(rt, month, now, [recipient])
        claim = rt.store.claim_report(
            rt.org.id,
            month,
            recipient,
            resend=resend,
            now=now,
            # One Message-ID per (org, month, recipient, send): two recipients' copies
            # are two messages, and a crash-retried send repeats its own id.
            message_id=f"<coachpass.report.{rt.org.id}.{month}.{_digest(recipient)}@{domain}>",
        )
        if claim is None:
            status = "in flight elsewhere" if _in_flight(rt, month, recipient) else "already sent"
            outcomes.append(SendOutcome(recipient, status))
            continue
        claim_id, message_id = claim
        del message["Message-ID"]
        message["Message-ID"] = message_id
        try:
            mailer.send(message)
        except Exception as exc:
            # Refused for certain (an error reply, no connection): free the claim so
            # the next run tries again. If the data may have gone out, keep the claim:
            # it is retried once stale, with the same Message-ID.
            if not getattr(exc, "may_have_sent", False):
                rt.store.release_report(claim_id)
            raise
        rt.store.mark_report_sent(claim_id, now=now)
        outcomes.append(SendOutcome(recipient, "sent", message_id))
    if not resend and all(o.status == "already sent" for o in outcomes):
        raise AlreadySent(
            f"the {month} report was sent already to {', '.join(recipients)}; "
            f"use --resend to send it again"
        )
    return outcomes


# -- job bodies ---------------------------------------------------------------


@dataclass(frozen=True)
class JobResult:
    job: str
    period: str
    ran: bool
    detail: str = ""


def top_up(rt: Runtime, now: datetime) -> list[BookingSummary]:
    """Book what is missing this month and next: new sellers, rebooks, earlier
    unbookable sellers, and `planned` rows a crashed run left behind."""
    this = rt.month_of(now)
    return [book_month(rt, m, now) for m in (this, this.next())]


def reconcile_and_rebook(rt: Runtime, now: datetime) -> tuple[ReconcileSummary, int]:
    summary = reconcile(rt, now)
    rebooked = 0
    for month in sorted(summary.months_to_rebook()):
        if month >= rt.month_of(now):
            rebooked += sum(len(p.proposals) for p in book_month(rt, month, now).plans)
    return summary, rebooked


def _body(job: str, rt: Runtime, period: str, now: datetime) -> str:
    if job == "book_next_month":
        s = book_month(rt, Month.parse(period), now)
        return f"created {s.created}, adopted {s.adopted}, unbookable {len(s.unbookable)}"
    if job == "top_up":
        summaries = top_up(rt, now)
        return "; ".join(f"{s.month}: created {s.created}" for s in summaries)
    if job == "reconcile":
        summary, rebooked = reconcile_and_rebook(rt, now)
        return f"{len(summary.transitions)} changes, {rebooked} rebooked"
    if job == "report":
        try:
            outcomes = send_report(rt, Month.parse(period), now)
        except AlreadySent:
            return "already sent"
        pending = [o.recipient for o in outcomes if o.status == "in flight elsewhere"]
        if pending:
            # Not done until every copy is known to be sent: the catch-up retries.
            raise TransientError(f"report to {', '.join(pending)} still being sent elsewhere")
        return ", ".join(f"{o.recipient}: {o.status}" for o in outcomes)
    raise ValueError(f"unknown job {job}")


def run_job(
    rt: Runtime,
    job: str,
    fire_time: datetime,
    now: datetime,
    *,
    log: Callable[[str], None] = lambda _m: None,
) -> JobResult:
    period = period_of(job, fire_time, rt.settings.schedule.timezone)
    if not rt.store.claim_job(job, period, owner=owner_name(), now=now, owner_alive=owner_alive):
        return JobResult(job, period, False, "done already or running elsewhere")
    try:
        detail = _body(job, rt, period, now)
    except Exception as exc:
        rt.store.finish_job(job, period, ok=False, now=now, detail=f"{type(exc).__name__}: {exc}")
        log(f"{job} {period} failed: {type(exc).__name__}: {exc}")
        raise
    rt.store.finish_job(job, period, ok=True, now=now, detail=detail)
    log(f"{job} {period}: {detail}")
    return JobResult(job, period, True, detail)
