"""The service's jobs, each idempotent for its period and recorded in the store.

A job run is claimed in `job_runs` under (job, period) before it starts: a second
instance, a catch-up at start and a cron firing for the same period all find the
claim and do nothing twice. A failed run, or one whose process died, is retried by
the service's periodic catch-up (every 15 minutes) and at the next start.

Under a leader, a run left `running` by anyone else is abandoned by definition: the
leader lock admits one instance, and a deposed one is fenced (it stops before its
next side effect), so the new leader takes such runs over at once instead of
waiting hours for them to go stale.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from connectors.base import ConnectorUserError, TransientError
from scheduler.errors import AlreadySent, PartialFailure, ReportNotDue, UserError
from scheduler.model import Month
from scheduler.report.send import (
    NOT_DONE,
    SendOutcome,
    build_month_report,
    month_report_data,
    send_report,
)
from scheduler.runtime import Runtime
from scheduler.service import metrics
from scheduler.sessions.booking import BookingSummary, book_month
from scheduler.sessions.reconcile import ReconcileSummary, reconcile
from scheduler.store.lock import LostLeadership
from scheduler.web.notices import send_booked_notices, send_reminders, unsettled_notices

JOBS = ("book_next_month", "top_up", "reconcile", "report", "remind")

log = logging.getLogger("coachpass.jobs")


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
    if job in ("top_up", "remind"):
        return fire_time.date().isoformat()
    return fire_time.strftime("%Y-%m-%dT%H:%M")


# -- report -----------------------------------------------------------------

__all__ = [
    "SendOutcome",
    "build_month_report",
    "month_report_data",
    "send_report",
]  # re-exported for callers


def follow_up_before_report(rt: Runtime, now: datetime) -> list[str]:
    """Reconcile before a report is built, so it counts what happened rather than
    what was booked (a month sent before any reconcile read 0 % held). Calendars
    that could not be read are returned (and logged): the report still goes out, with
    those sessions as they last stood; the reconcile job lists them too."""
    summary = reconcile(rt, now)
    for error in summary.errors:
        log.warning("report: sessions not followed up before the report: %s", error)
    return list(summary.errors)


# -- job bodies ---------------------------------------------------------------


@dataclass(frozen=True)
class JobResult:
    job: str
    period: str
    ran: bool
    detail: str = ""
    #: One line per person, team or recipient that failed (a failed run only).
    failures: tuple[str, ...] = ()


def top_up(rt: Runtime, now: datetime) -> list[BookingSummary]:
    """Book what is missing this month and next: new sellers, rebooks, earlier
    unbookable sellers, and `planned` rows a crashed run left behind."""
    this = rt.month_of(now)
    return [book_month(rt, m, now) for m in (this, this.next())]


def reconcile_and_rebook(
    rt: Runtime, now: datetime, *, failures: list[str] | None = None
) -> tuple[ReconcileSummary, int]:
    """Reconcile, then book again what fell through. Failures of those bookings
    (teams, sessions) are appended to `failures` when given."""
    summary = reconcile(rt, now)
    rebooked = 0
    for month in sorted(summary.months_to_rebook()):
        if month >= rt.month_of(now):
            booking = book_month(rt, month, now)
            rebooked += sum(len(p.proposals) for p in booking.plans)
            if failures is not None:
                failures.extend(f"rebook {month}: {line}" for line in booking.failures())
    return summary, rebooked


def _partial(what: str, detail: str, failures: list[str]) -> str:
    """The job's detail; with failures the run is recorded failed (the catch-up
    retries it, and the rest is idempotent) and each failure is in the record."""
    if failures:
        raise PartialFailure(f"{what} ({detail})", failures)
    return detail


def notify_booked(rt: Runtime, now: datetime) -> tuple[str, list[str]]:
    """After booking: each manager gets the links of sessions booked for them (only
    those not notified before). Returns a note for the detail and the failures."""
    try:
        notices = send_booked_notices(rt, now)
    except UserError as exc:
        return "", [f"booked notices: {exc}"]
    detail = f", {notices.said()}" if notices.sent else ""
    return detail, notices.failures()


def _notify_after_booking(rt: Runtime, now: datetime) -> str:
    """A mail or key problem does not fail the booking job (its catch-up would read
    every calendar again every 15 minutes while the mail server is down): it is
    logged and in the run's detail, and the unsent notices go out with the next
    booking run or the next morning's `remind`, whichever comes first."""
    detail, failures = notify_booked(rt, now)
    for line in failures:
        log.error("%s", line)
    if failures:
        n = len(failures)
        detail += (
            f"; {n} notice{'' if n == 1 else 's'} not sent (retried by the next run or remind)"
        )
    return detail


def log_unsettled_notices(rt: Runtime, now: datetime) -> None:
    """Notices whose send never confirmed are never resent; say so every morning
    until an admin looks (`coachpass remind` lists them)."""
    for row in unsettled_notices(rt, now):
        log.error(
            "%s notice of session %s to %s: outcome unknown (claimed %s); not resent",
            row["kind"],
            row["session_key"],
            row["manager_id"],
            row["claimed_at"].isoformat(),
        )


def _body(job: str, rt: Runtime, period: str, now: datetime) -> str:
    if job == "book_next_month":
        s = book_month(rt, Month.parse(period), now)
        detail = f"created {s.created}, adopted {s.adopted}, unbookable {len(s.unbookable)}"
        return _partial(job, detail + _notify_after_booking(rt, now), s.failures())
    if job == "top_up":
        summaries = top_up(rt, now)
        detail = "; ".join(f"{s.month}: created {s.created}" for s in summaries)
        detail += _notify_after_booking(rt, now)
        return _partial(job, detail, [f for s in summaries for f in s.failures()])
    if job == "reconcile":
        failures: list[str] = []
        summary, rebooked = reconcile_and_rebook(rt, now, failures=failures)
        n = len(summary.transitions)
        detail = f"{n} change{'' if n == 1 else 's'}, {rebooked} rebooked"
        if rebooked:
            detail += _notify_after_booking(rt, now)
        return _partial(job, detail, list(summary.errors) + failures)
    if job == "remind":
        # Booked notices a mail outage kept back go out first (never twice).
        booked, booked_failures = notify_booked(rt, now)
        reminders = send_reminders(rt, now)
        log_unsettled_notices(rt, now)
        detail = reminders.skipped or (reminders.said())
        if booked:
            detail += f"; booked notices{booked}"
        return _partial(job, detail, reminders.failures() + booked_failures)
    if job == "report":
        followed = follow_up_before_report(rt, now)
        try:
            outcomes = send_report(rt, Month.parse(period), now)
        except AlreadySent:
            return "already sent"
        except ReportNotDue as exc:
            return f"not sent: {exc}"
        detail = ", ".join(f"{o.recipient}: {o.status}" for o in outcomes)
        if followed:
            detail += f" ({len(followed)} calendars not followed up first)"
        # Not done until every copy is known to be sent: the run is recorded failed
        # and the catch-up looks again. An unknown outcome stays unknown (and is
        # logged as an error each time) until an admin resolves it.
        return _partial(
            job,
            detail,
            [f"{o.recipient}: {o.status}: {o.detail}" for o in outcomes if o.status in NOT_DONE],
        )
    raise ValueError(f"unknown job {job}")


def run_job(
    rt: Runtime,
    job: str,
    fire_time: datetime,
    now: datetime,
    *,
    log: Callable[[str], None] | None = None,
    leading: bool = False,
) -> JobResult:
    """Run `job` for the period of `fire_time` unless it is done or running.

    `leading`: the caller holds the leader lock (and `rt.fence` checks it), so a
    run another instance left `running` is taken over. Raises `LostLeadership` when
    the fence stopped the run; other failures are recorded and raised."""
    say = log or _log_info
    period = period_of(job, fire_time, rt.settings.schedule.timezone)
    owner = owner_name()
    alive = (lambda _owner: False) if leading else owner_alive
    if not rt.store.claim_job(job, period, owner=owner, now=now, owner_alive=alive):
        metrics.JOB_RUNS.labels(job, "skipped").inc()
        return JobResult(job, period, False, "done already or running elsewhere")
    started = time.monotonic()
    try:
        detail = _body(job, rt, period, now)
    except LostLeadership:
        metrics.JOB_RUNS.labels(job, "stepped_down").inc()
        lost = "stopped: lost leadership"
        _record_end(rt, job, period, owner, now, started, ok=False, detail=lost)
        raise
    except Exception as exc:
        metrics.JOB_RUNS.labels(job, "failed").inc()
        metrics.JOB_FAILURES.labels(job).inc()
        # A user's or provider's failure is recorded in its own words; a bug keeps
        # its class name, which is what a developer needs.
        text = (
            str(exc)
            if isinstance(exc, (UserError, PartialFailure))
            else f"{type(exc).__name__}: {exc}"
        )
        _record_end(rt, job, period, owner, now, started, ok=False, detail=text)
        raise  # the caller logs it: one line for expected failures, a traceback for bugs
    metrics.JOB_SECONDS.labels(job).observe(time.monotonic() - started)
    metrics.JOB_RUNS.labels(job, "done").inc()
    _record_end(rt, job, period, owner, now, started, ok=True, detail=detail)
    say(f"{job} {period}: {detail}")
    return JobResult(job, period, True, detail)


def _log_info(message: str) -> None:
    log.info("%s", message)


def _record_end(
    rt: Runtime,
    job: str,
    period: str,
    owner: str,
    now: datetime,
    started: float,
    *,
    ok: bool,
    detail: str,
) -> None:
    """Record the end of our own claim. With the database away this cannot be
    written; the claim then stays `running` and the next leader takes it over.
    `now` is the run's start on the service's clock (which tests pin); the end is
    that plus the time the run took, so `jobs list` shows real durations."""
    ended = now + timedelta(seconds=time.monotonic() - started)
    try:
        rt.store.finish_job(job, period, ok=ok, now=ended, detail=detail, owner=owner)
    except SQLAlchemyError as exc:
        log.warning("could not record the end of %s %s: %s", job, period, type(exc).__name__)


#: Failures a job run can meet that are not bugs: logged in one line, no traceback.
EXPECTED_FAILURES: tuple[type[BaseException], ...] = (
    UserError,
    PartialFailure,
    ConnectorUserError,
    TransientError,
    SQLAlchemyError,
    OSError,
)
