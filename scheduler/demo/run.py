"""`coachpass demo`: one whole coaching month on local calendars, no accounts needed.

The clock is simulated (every core function takes `now`), so a month passes in
seconds: book ten days ahead, let attendees decline, cancel and move some sessions
early in the month, reconcile and rebook, let a meeting tool report who attended some
sessions (verified outcomes), let the month end (the rest presumed held), let managers
mark a session or two by hand, and send the KPI report to the outbox.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import icalendar

from scheduler.demo.data import generate
from scheduler.demo.meetings import describe, drop_reports, outcome_sources
from scheduler.demo.moves import free_slot
from scheduler.errors import UserError
from scheduler.model import Month, SessionRecord, SessionState
from scheduler.runtime import Runtime
from scheduler.service.jobs import reconcile_and_rebook, send_report
from scheduler.sessions.actions import mark_session
from scheduler.sessions.attendance import ATTENDANCE_PREFIX
from scheduler.sessions.booking import book_month
from scheduler.web.notices import send_booked_notices, send_reminders

MARKER = ".coachpass-demo"


def _prepare(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).exists():
            raise UserError(
                f"{folder} exists and is not a Coachpass demo folder: choose another --dir"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("created by coachpass demo; safe to delete\n")


def _edit_event(path: Path, key: str, change: Callable[[icalendar.Event], None]) -> None:
    """What a person does in their calendar client, done to the .ics file."""
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    for component in cal.walk("VEVENT"):
        if str(component.get("uid", "")).startswith(key):
            change(component)  # type: ignore[arg-type]
            seq = int(component.get("sequence", 0)) + 1
            component.pop("sequence", None)
            component.add("sequence", seq)
    path.write_bytes(cal.to_ical())


def _decline(email: str) -> Callable[[icalendar.Event], None]:
    def change(ev: icalendar.Event) -> None:
        for att in (
            ev.get("attendee", []) if isinstance(ev.get("attendee"), list) else [ev.get("attendee")]
        ):
            if att is not None and str(att).lower().endswith(email.lower()):
                att.params["PARTSTAT"] = "DECLINED"

    return change


def _cancel(ev: icalendar.Event) -> None:
    ev.pop("status", None)
    ev.add("status", "CANCELLED")


def _move(start: datetime, end: datetime) -> Callable[[icalendar.Event], None]:
    def change(ev: icalendar.Event) -> None:
        zone = ev.decoded("dtstart").tzinfo  # keep the event's own zone
        ev.pop("dtstart")
        ev.pop("dtend")
        ev.add("dtstart", start.astimezone(zone))
        ev.add("dtend", end.astimezone(zone))

    return change


def _simulate_attendees(
    rt: Runtime, month: Month, now: datetime, rng: random.Random, cal_dir: Path
) -> dict[str, list[SessionRecord]]:
    booked = [
        r
        for r in rt.store.sessions(org_id=rt.org.id, month=month, states=[SessionState.BOOKED])
        if r.start is not None and r.start > now + timedelta(days=3)
    ]
    rng.shuffle(booked)
    acts = {"declined": booked[0:4], "cancelled": booked[4:6], "moved": booked[6:9]}
    for kind, records in acts.items():
        for rec in list(records):
            manager = rt.person(rec.manager_id)
            seller = rt.person(rec.seller_id)
            assert manager is not None and seller is not None
            path = cal_dir / manager.calendar_id
            if kind == "declined":
                _edit_event(path, rec.key, _decline(seller.email))
            elif kind == "cancelled":
                _edit_event(path, rec.key, _cancel)
            else:
                # A manager moves it to a time both are free, as a demo should show.
                slot = free_slot(rt, rec, month, now)
                if slot is None:
                    records.remove(rec)  # nowhere both are free: this one stays put
                else:
                    _edit_event(path, rec.key, _move(*slot))
    return acts


def run_demo(
    folder: Path, month: Month, *, seed: int = 7, echo: Callable[[str], None] = print
) -> dict[str, object]:
    from scheduler.report.kpi import compute_month
    from scheduler.settings.load import load_settings

    folder = folder.resolve()
    _prepare(folder)
    config = generate(folder, month, seed)
    settings = load_settings(config)
    rt = Runtime.open(settings)
    rng = random.Random(seed)
    try:
        echo(f"Demo organisation: {config}")
        t0 = datetime.combine(month.first_day - timedelta(days=10), time(7), UTC)
        first = book_month(rt, month, t0)
        echo(
            f"[{t0:%Y-%m-%d}] booked {month}: {first.created} invitations sent, "
            f"{len(first.unbookable)} sellers unbookable"
        )
        again = book_month(rt, month, t0 + timedelta(hours=1))
        echo(f"[{t0:%Y-%m-%d}] booked again: {again.created} created (idempotent)")
        booked = send_booked_notices(rt, t0 + timedelta(hours=1))
        echo(
            f"[{t0:%Y-%m-%d}] managers e-mailed their personal page links: "
            f"{len(booked.sent)} e-mails for {booked.sessions} sessions (the invitations "
            "themselves carry no link: sellers see them too)"
        )

        t1 = datetime.combine(month.first_day + timedelta(days=1), time(6), UTC)
        acts = _simulate_attendees(
            rt, month, t1, rng, folder / settings.connectors["local"].get("path", "calendars")
        )
        echo(f"[{t1:%Y-%m-%d}] attendees: " + ", ".join(f"{len(v)} {k}" for k, v in acts.items()))
        summary, rebooked = reconcile_and_rebook(rt, t1)
        echo(f"[{t1:%Y-%m-%d}] reconciled: {len(summary.transitions)} changes, {rebooked} rebooked")
        rebooked_links = send_booked_notices(rt, t1)
        echo(
            f"[{t1:%Y-%m-%d}] managers e-mailed the links of the rebooked sessions: "
            f"{len(rebooked_links.sent)} e-mails for {rebooked_links.sessions} sessions"
        )

        meetings = folder / str(settings.connectors["local"].get("attendance_dir", "meetings"))
        reports = drop_reports(rt, month, meetings, rng)
        echo(
            f"[{t1:%Y-%m-%d}] meeting tool (simulated) will report: "
            + ", ".join(f"{len(v)} {k}" for k, v in reports.items())
            + f" (one report per session in {meetings.name}/)"
        )

        # The service reconciles every 30 minutes; the demo looks every few days, often
        # enough that every session is asked about within the asking window.
        t2 = datetime.combine(month.last_day + timedelta(days=1), time(6), UTC)
        step = timedelta(days=max(1, rt.org.policy.attendance.keep_asking_days - 1))
        when = t1 + step
        verified = 0
        reminded = 0
        reminder_mails = 0
        while when < t2:
            summary, _ = reconcile_and_rebook(rt, when)
            verified += sum(t.detail.startswith(ATTENDANCE_PREFIX) for t in summary.transitions)
            # Sessions that ended without an outcome: their managers are reminded once,
            # with the link (the service does this every working morning).
            reminders = send_reminders(rt, when)
            reminded += reminders.sessions
            reminder_mails += len(reminders.sent)
            when += step
        summary, _ = reconcile_and_rebook(rt, t2)
        verified += sum(t.detail.startswith(ATTENDANCE_PREFIX) for t in summary.transitions)
        echo(
            f"[{t2:%Y-%m-%d}] month over: all sessions settled, {verified} verified by "
            f"meeting reports"
        )
        presumed = sorted(
            (
                r
                for r in rt.store.sessions(
                    org_id=rt.org.id, month=month, states=[SessionState.HELD]
                )
                if not r.verified
            ),
            key=lambda r: r.key,
        )
        rng.shuffle(presumed)
        for rec in presumed[:1]:
            mark_session(
                rt,
                rec.key,
                SessionState.NO_SHOW,
                now=t2,
                note="Seller did not join; manager followed up by phone.",
            )
        for rec in presumed[1:2]:
            mark_session(
                rt,
                rec.key,
                SessionState.HELD,
                now=t2,
                note="Reviewed two open deals.",
                followups="Send the revised proposal; book a call with the buyer's CFO.",
            )
        echo(f"[{t2:%Y-%m-%d}] managers marked 1 no-show and 1 held session with follow-ups")
        echo(
            f"[{t2:%Y-%m-%d}] reminders sent along the way for {reminded} sessions that "
            "ended without an outcome (once each)"
        )

        outcomes = send_report(rt, month, t2)
        kpi = compute_month(
            rt.org,
            month,
            rt.store.sessions(org_id=rt.org.id, month=month),
            rt.store.history(org_id=rt.org.id, month=month),
        )
        _print_summary(kpi, echo)
        history = rt.store.history(org_id=rt.org.id, month=month)
        for line in describe(
            outcome_sources(rt.store.sessions(org_id=rt.org.id, month=month), history)
        ):
            echo(line)
        outbox = settings.outbox
        sent = sorted(
            p
            for p in outbox.glob("*.eml")
            if "report" in p.name.lower() or "kpi" in p.name.lower() or "coach" in p.name.lower()
        )
        echo("")
        echo(f"Report sent to: {', '.join(o.recipient for o in outcomes)} (outbox: {outbox})")
        echo(f"Calendars:      {folder / 'calendars'} (one .ics per person)")
        to_managers = len(booked.sent) + len(rebooked_links.sent) + reminder_mails
        invitations = len(list(outbox.glob("*.eml"))) - len(outcomes) - to_managers
        echo(
            f"Invitations:    {invitations} .eml files in {outbox} (and {len(outcomes)} "
            f"reports, {to_managers} e-mails to managers with their page links)"
        )
        echo(f"Store:          {settings.store_url}")
        return {"config": config, "kpi": kpi, "reports": sent}
    finally:
        rt.close()


def _print_summary(kpi: object, echo: Callable[[str], None]) -> None:
    from scheduler.cli.common import echo_table

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    rows = [
        (
            getattr(t, "team_name", "total"),
            t.active_sellers,
            t.booked,
            t.held,
            t.declined,
            t.cancelled,
            t.moved,
            t.no_show,
            t.unbookable,
            pct(t.coverage),
            pct(t.held_rate),
        )
        for t in [*getattr(kpi, "teams", ()), kpi]
    ]
    echo("")
    echo_table(
        [
            "team",
            "sellers",
            "booked",
            "held",
            "declined",
            "cancelled",
            "moved",
            "no-show",
            "unbookable",
            "coverage",
            "held rate",
        ],
        rows,
    )
