"""`coachpass`: the admin CLI. Commands parse, call one core function, print.

The one error handler is `main()`, and its exit codes are what a cron job or a
systemd unit acts on:

- 0: everything done;
- 2: a user error (`UserError`, `ConnectorUserError`), nothing done: its message,
  no traceback;
- 3: partial: some teams, people or sessions failed and the rest is done
  (`PartialFailure`, each failure listed on stderr), or a provider kept failing
  (any other `ConnectorError`: a message, no traceback).

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from connectors.base import ConnectorError, ConnectorUserError
from scheduler.cli.common import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    CliState,
    echo_json,
    echo_table,
    json_option,
    month_option,
    now_utc,
    pass_state,
    plain_text,
)
from scheduler.cli.jobs import jobs_group
from scheduler.cli.manager import remind, sessions_link
from scheduler.errors import ConfigError, PartialFailure, UserError
from scheduler.model import Month, SessionState
from scheduler.planning.problem import TeamPlan
from scheduler.sessions.followups import FOLLOWUP_MAX, FOLLOWUPS_MAX, NOTE_MAX


class _Progress:
    """A click progress bar per stage, on a terminal only (logs stay clean)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.stage = ""
        self.enabled = sys.stderr.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = click.progressbar(length=total, label=stage, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _local(when: datetime, zone: str, fmt: str) -> str:
    """A time as the manager sees it: admins read plans in people's own hours."""
    return when.astimezone(ZoneInfo(zone)).strftime(fmt)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _runtime(state: CliState) -> Any:
    from scheduler.runtime import Runtime

    rt = Runtime.open(state.settings())
    rt.clock = now_utc  # one "now" for the commands and the connectors' attendance reads
    return rt


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=CONFIG_ENV,
    default=DEFAULT_CONFIG,
    show_default=True,
    help=f"Organisation config (YAML). Also from ${CONFIG_ENV}.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    envvar="COACHPASS_LOG_LEVEL",
    default="info",
    show_default=True,
    help="Log level (stderr). Also from $COACHPASS_LOG_LEVEL.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    envvar="COACHPASS_LOG_FORMAT",
    default="text",
    show_default=True,
    help="Log lines as text or one JSON object each. Also from $COACHPASS_LOG_FORMAT.",
)
@click.version_option(package_name="coachpass")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, log_level: str, log_format: str) -> None:
    """Coachpass books one coaching session a month between every sales manager and
    each seller, follows it up, and reports coaching KPIs to leadership."""
    from scheduler.service.logs import configure

    configure(log_level, log_format)
    ctx.obj = CliState(config_path=config_path)


def _register_admin() -> None:
    try:
        from scheduler.cli.admin import config_group, people_group, teams_group
    except ImportError:  # pragma: no cover - during development only
        return
    cli.add_command(config_group)
    cli.add_command(teams_group)
    cli.add_command(people_group)
    from scheduler.cli.connectors import connectors_group
    from scheduler.cli.init import init

    cli.add_command(connectors_group)
    cli.add_command(init)


_register_admin()
cli.add_command(jobs_group)
cli.add_command(remind)


# -- planning and booking ----------------------------------------------------------


def _default_month(month: Month | None) -> Month:
    """Next month (the demo's organisation is in Stockholm: read the month there)."""
    return month or Month.of(now_utc().astimezone(ZoneInfo("Europe/Stockholm"))).next()


def _refuse_past(rt: Any, month: Month, verb: str) -> None:
    """A month that is over cannot be booked (and `book` would write an `unbookable`
    row per seller for good): a user error, before anything is written."""
    current = rt.month_of(now_utc())
    if (month.year, month.month) < (current.year, current.month):
        rt.close()
        raise UserError(
            f"cannot {verb} {month}: the month is over (it is {current} in "
            f"{rt.org.timezone}); give this month or a later one"
        )


@cli.command()
@month_option(help_text="Month to plan, YYYY-MM (default: next month).")
@json_option
@pass_state
def plan(state: CliState, month: Month | None, as_json: bool) -> None:
    """Dry run: show the slots the planner would book, and who cannot be booked and why.

    Books nothing and writes no session. It keeps the plans in the store, so a
    `book` of the same inputs (same calendars, people, policy and sessions) takes
    them instead of planning again."""
    from scheduler.sessions.booking import TeamFailure, plan_month

    rt = _runtime(state)
    month = month or rt.month_of(now_utc()).next()
    _refuse_past(rt, month, "plan")
    progress = _Progress()
    failures: list[TeamFailure] = []
    try:
        plans, _ = plan_month(rt, month, now_utc(), progress, failures)
        # The planner proposes only what is missing; a month booked already would
        # otherwise read as "0 sessions", as if nothing were there.
        booked = sum(
            r.state.active or r.state is SessionState.HELD
            for r in rt.store.sessions(org_id=rt.org.id, month=month)
        )
    finally:
        progress.close()
        rt.close()
    names = {p.id: p.name for p in rt.org.people()}
    zones = {t.id: t.manager.timezone for t in rt.org.teams}
    proposals = [
        (p.team_id, names.get(s.seller_id, s.seller_id), s.start, s.end, zones[p.team_id])
        for p in plans
        for s in p.proposals
    ]
    misses = [
        (p.team_id, names.get(u.seller_id, u.seller_id), u.reason)
        for p in plans
        for u in p.unbookable
    ]
    if as_json:
        echo_json(
            {
                "month": str(month),
                "already_booked": booked,
                "teams": [
                    {
                        "team": p.team_id,
                        "optimal": p.optimal,
                        "upper_bound": p.upper_bound,
                        "reused": p.reused,
                        "proposals": [
                            {
                                "seller": s.seller_id,
                                "start": s.start.isoformat(),
                                "end": s.end.isoformat(),
                            }
                            for s in p.proposals
                        ],
                        "unbookable": [
                            {"seller": u.seller_id, "reason": u.reason} for u in p.unbookable
                        ],
                    }
                    for p in plans
                ],
                "failed": [
                    {"team": f.team_id, "person": f.person_id, "error": f.text} for f in failures
                ],
            }
        )
        _raise_partial("plan", [f.text for f in failures])
        return
    planned = (
        f"{booked} already booked, {len(proposals)} to plan"
        if booked
        else _count(len(proposals), "session")
    )
    click.echo(
        f"Plan for {month}: {planned}, {_count(len(misses), 'seller')} unbookable{_reused(plans)}"
    )
    if proposals:
        echo_table(
            ["team", "seller", "start (manager's time)", "end"],
            [
                (t, n, _local(s, z, "%a %Y-%m-%d %H:%M %Z"), _local(e, z, "%H:%M"))
                for t, n, s, e, z in proposals
            ],
        )
    if misses:
        click.echo("\nCannot be booked:")
        echo_table(["team", "seller", "reason"], misses)
    for p in plans:
        if not p.optimal:
            click.echo(
                f"note: team {p.team_id}: search cut by the time limit, plan not proven "
                f"optimal (at most {p.upper_bound} sellers possible)"
            )
    _raise_partial("plan", [f.text for f in failures])


def _reused(plans: Sequence[TeamPlan]) -> str:
    """', plans of 3/5 teams reused': teams whose plan an earlier run of the same
    inputs had stored (nothing when none)."""
    reused = sum(p.reused for p in plans)
    return f", plans of {reused}/{len(plans)} teams reused" if reused else ""


def _raise_partial(what: str, failures: list[str]) -> None:
    """After the summary is out: exit 3 with each failure listed (see `main`)."""
    if failures:
        raise PartialFailure(what, failures)


@cli.command()
@month_option(help_text="Month to book, YYYY-MM (default: next month).")
@json_option
@pass_state
def book(state: CliState, month: Month | None, as_json: bool) -> None:
    """Plan and book the month's sessions. Safe to run again: books only what is missing.

    A team whose inputs are those of an earlier `plan` or `book` takes the plan that
    run stored instead of planning again (the output says for how many teams).

    Exit 0 when every session is booked (or unbookable, with its reason), 3 when
    some teams or sessions failed (each listed on stderr; the rest is booked)."""
    from scheduler.sessions.booking import book_month

    rt = _runtime(state)
    month = month or rt.month_of(now_utc()).next()
    _refuse_past(rt, month, "book")
    progress = _Progress()
    try:
        summary = book_month(rt, month, now_utc(), progress)
        progress.close()
        from scheduler.service.jobs import notify_booked

        notified, notice_failures = notify_booked(rt, now_utc())
    finally:
        progress.close()
        rt.close()
    failures = summary.failures() + notice_failures
    if as_json:
        echo_json(
            {
                "month": str(month),
                "created": summary.created,
                "adopted": summary.adopted,
                "unbookable": [{"seller": s, "reason": r} for s, r in summary.unbookable],
                "not_rebooked": [{"seller": s, "reason": r} for s, r in summary.not_rebooked],
                "failed_teams": [
                    {"team": f.team_id, "person": f.person_id, "error": f.text}
                    for f in summary.failed_teams
                ],
                "failed": [{"session": k, "error": e} for k, e in summary.failed],
                "notices": notified.lstrip(", "),
                "plans_reused": sum(p.reused for p in summary.plans),
                "ok": not failures,
            }
        )
    else:
        click.echo(
            f"{month}: {summary.created} events created, {summary.adopted} already existed, "
            f"{_count(len(summary.unbookable), 'seller')} unbookable, "
            f"{len(failures)} failed{notified}{_reused(summary.plans)}"
        )
        for seller, reason in summary.unbookable:
            click.echo(f"  unbookable {seller}: {reason}")
    _raise_partial(f"book {month}", failures)


@cli.command("reconcile")
@click.option("--no-rebook", is_flag=True, help="Only follow up; do not rebook what fell through.")
@json_option
@pass_state
def reconcile_cmd(state: CliState, no_rebook: bool, as_json: bool) -> None:
    """Read what happened in the calendars: declines, cancellations, moves, held sessions.

    Exit 3 when some calendars could not be read or a rebook failed (each listed on
    stderr); what could be read is recorded."""
    from scheduler.service.jobs import reconcile_and_rebook
    from scheduler.sessions.reconcile import reconcile

    rt = _runtime(state)
    rebook_failures: list[str] = []
    try:
        if no_rebook:
            summary, rebooked = reconcile(rt, now_utc()), 0
        else:
            summary, rebooked = reconcile_and_rebook(rt, now_utc(), failures=rebook_failures)
    finally:
        rt.close()
    failures = list(summary.errors) + rebook_failures
    if as_json:
        echo_json(
            {
                "calendars_read": summary.calendars_read,
                "full_reads": summary.full_reads,
                "changes": [
                    {
                        "session": t.key,
                        "seller": t.seller_id,
                        "month": str(t.month),
                        "from": t.from_state.value,
                        "to": t.to_state.value,
                        "detail": t.detail,
                    }
                    for t in summary.transitions
                ],
                "rebooked": rebooked,
                "failed": failures,
                "ok": not failures,
            }
        )
    else:
        click.echo(
            f"{summary.calendars_read} calendars read ({summary.full_reads} full), "
            f"{len(summary.transitions)} changes, {rebooked} rebooked"
        )
        for t in summary.transitions:
            click.echo(
                f"  {t.seller_id} {t.month}: {t.from_state.value} -> {t.to_state.value} "
                f"({t.detail})"
            )
    _raise_partial("reconcile", failures)


# -- sessions ---------------------------------------------------------------------


@cli.group()
def sessions() -> None:
    """List sessions and mark what happened in them."""


sessions.add_command(sessions_link)


@sessions.command("list")
@month_option(help_text="Only this month, YYYY-MM.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in SessionState]),
    help="Only these states.",
)
@click.option("--seller", help="Only this seller id.")
@json_option
@pass_state
def sessions_list(
    state: CliState, month: Month | None, states: tuple[str, ...], seller: str | None, as_json: bool
) -> None:
    """List sessions with their state.

    --json adds, per session, `source`: who settled a held or no-show session
    (provider, manager or presumed; null otherwise), and `verified`, kept for older
    scripts: true for a provider's verdict and for a manager's mark alike."""
    from collections import defaultdict

    from scheduler.model import StateChange
    from scheduler.report.outcomes import settled_by
    from scheduler.runtime import Runtime

    rt = Runtime.open(state.settings())
    try:
        records = rt.store.sessions(
            org_id=rt.org.id,
            month=month,
            seller_id=seller,
            states=[SessionState(s) for s in states] if states else None,
        )
        changes: dict[str, list[StateChange]] = defaultdict(list)
        if as_json and any(r.state in (SessionState.HELD, SessionState.NO_SHOW) for r in records):
            for change in rt.store.history(org_id=rt.org.id, month=month):
                changes[change.key].append(change)
    finally:
        rt.close()
    if as_json:
        echo_json(
            [
                {
                    "key": r.key,
                    "month": str(r.month),
                    "team": r.team_id,
                    "manager": r.manager_id,
                    "seller": r.seller_id,
                    "attempt": r.attempt,
                    "state": r.state.value,
                    "start": r.start.isoformat() if r.start else None,
                    "end": r.end.isoformat() if r.end else None,
                    "moved": r.moved,
                    # Kept for scripts written before `source`: true for a
                    # provider's verdict *and* a manager's mark.
                    "verified": r.verified,
                    "source": settled_by(r, changes.get(r.key, ())),
                    "attendance": r.attendance_status,
                    "attendance_detail": r.attendance_detail,
                    "reason": r.reason,
                    "note": r.note,
                    "followups": r.followups,
                }
                for r in records
            ]
        )
        return
    zones = {p.id: p.timezone for p in state.settings().organisation.people()}
    echo_table(
        ["key", "month", "team", "seller", "try", "state", "start (manager's time)", "reason"],
        [
            (
                r.key[:12],
                r.month,
                r.team_id,
                r.seller_id,
                r.attempt,
                r.state.value,
                _local(r.start, zones.get(r.manager_id, "UTC"), "%Y-%m-%d %H:%M %Z")
                if r.start
                else "",
                (r.reason[:60] + "…") if len(r.reason) > 60 else r.reason,
            )
            for r in records
        ],
    )


@sessions.command("mark")
@click.argument("session")
@click.option("--held", is_flag=True, help="The session took place.")
@click.option("--no-show", is_flag=True, help="The seller did not come.")
@click.option(
    "--note",
    default=None,
    callback=plain_text(multiline=True),
    help=f"What was discussed (at most {NOTE_MAX} characters). Not given: the recorded "
    f"note stays; '' clears it.",
)
@click.option(
    "--followups",
    default=None,
    callback=plain_text(multiline=True),
    help=f"Follow-ups for the next session's agenda: up to {FOLLOWUPS_MAX}, one per line "
    f"or separated by ';', at most {FOLLOWUP_MAX} characters each. Not given: the "
    f"recorded ones stay; '' clears them.",
)
@month_option(help_text="Month, when SESSION is a seller id (default: latest).")
@pass_state
def sessions_mark(
    state: CliState,
    session: str,
    held: bool,
    no_show: bool,
    note: str | None,
    followups: str | None,
    month: Month | None,
) -> None:
    """Mark SESSION (a key, a key prefix, or a seller id) held or no-show."""
    from scheduler.runtime import Runtime
    from scheduler.sessions.actions import mark_session, next_booked
    from scheduler.sessions.followups import followup_items, problems, stored_followups

    if held and no_show:
        raise UserError("--held and --no-show contradict each other: give one")
    if not (held or no_show):
        raise UserError("say what happened: --held or --no-show")
    outcome = "held" if held else "no_show"
    note = None if note is None else note.strip()
    items = followup_items(followups or "")
    # The page's limits, from the same constants: one rule wherever it is recorded.
    wrong = problems(note or "", items)
    if wrong:
        raise UserError(" ".join(wrong))
    rt = Runtime.open(state.settings())
    try:
        rec = mark_session(
            rt,
            session,
            SessionState(outcome),
            now=now_utc(),
            note=note,
            followups=None if followups is None else stored_followups(items),
            month=month,
        )
        following = next_booked(rt, rec) if followups else None
    finally:
        rt.close()
    said = "held" if rec.state is SessionState.HELD else "no-show"
    click.echo(f"{rec.key} ({rec.seller_id}, {rec.month}) marked {said}")
    if following is not None and following.start is not None:
        # Agendas are written at booking: this one went out before these follow-ups.
        click.echo(
            f"note: {rec.seller_id}'s next session ({following.start:%Y-%m-%d %H:%M} UTC) is "
            f"booked already; its agenda does not hold these follow-ups, so the manager "
            f"brings them up there"
        )


@sessions.command("cancel")
@click.argument("session")
@click.option(
    "--reason",
    default="",
    callback=plain_text(multiline=True),
    help="Told to the attendees with the cancellation.",
)
@click.option("--no-rebook", is_flag=True, help="Do not book a new session this month.")
@month_option(help_text="Month, when SESSION is a seller id (default: latest).")
@pass_state
def sessions_cancel(
    state: CliState, session: str, reason: str, no_rebook: bool, month: Month | None
) -> None:
    """Cancel SESSION (a key, a key prefix, or a seller id) in the calendar and the store.
    The next top-up books a new one if the policy rebooks cancellations."""
    from scheduler.runtime import Runtime
    from scheduler.sessions.actions import cancel_session

    rt = Runtime.open(state.settings())
    try:
        rec = cancel_session(
            rt, session, now=now_utc(), reason=reason, rebook=not no_rebook, month=month
        )
    finally:
        rt.close()
    click.echo(f"{rec.key} ({rec.seller_id}, {rec.month}) cancelled; attendees were told")


# -- report -----------------------------------------------------------------------


@cli.command()
@month_option(help_text="Report month, YYYY-MM (default: last month).")
@click.option("--send", is_flag=True, help="E-mail it to the leadership recipients.")
@click.option(
    "--resend",
    is_flag=True,
    help="Send again to recipients who had it already, or whose earlier send has an "
    "unknown outcome.",
)
@click.option(
    "--mark-delivered",
    is_flag=True,
    help="Record that a send with an unknown outcome did arrive (nothing is sent).",
)
@click.option("--to", "only", multiple=True, help="Only this address (repeatable).")
@click.option(
    "--force",
    is_flag=True,
    help="Send even for a month that is not over or had nothing booked by Coachpass.",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report's HTML (as mailed) to this file; nothing is sent.",
)
@click.option(
    "--text",
    "text_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report's plain text (as mailed) to this file; nothing is sent.",
)
@json_option
@pass_state
def report(
    state: CliState,
    month: Month | None,
    send: bool,
    resend: bool,
    mark_delivered: bool,
    only: tuple[str, ...],
    force: bool,
    html_file: Path | None,
    text_file: Path | None,
    as_json: bool,
) -> None:
    """Show the month's coaching KPI report, write it to files (--html, --text), or
    send it (--send) once per recipient.

    Sending is only for a month that is over and had sessions booked (else --force);
    a preview of any month is always possible. A send whose outcome is unknown (the
    sender died after handing the mail over) is never repeated by itself: it exits 3
    until --resend or --mark-delivered settles it."""
    from scheduler.report.send import NOT_DONE
    from scheduler.report.send import mark_delivered as record_delivered
    from scheduler.runtime import Runtime
    from scheduler.service.jobs import build_month_report, follow_up_before_report, send_report

    if mark_delivered and (send or resend):
        raise UserError("--mark-delivered records an earlier send; use it without --send/--resend")
    if (html_file or text_file) and (send or resend or mark_delivered):
        raise UserError("--html/--text write the report without sending it: leave out --send")
    rt = Runtime.open(state.settings())
    rt.clock = now_utc  # the report follows the month up first: attendance reads included
    month = month or rt.month_of(now_utc()).previous()
    try:
        if send or resend or mark_delivered:
            unfollowed: list[str] = []
            if mark_delivered:
                outcomes = record_delivered(rt, month, now_utc(), only=list(only) or None)
            else:
                # Follow the month up first: the report counts what happened.
                unfollowed = follow_up_before_report(rt, now_utc())
                outcomes = send_report(
                    rt, month, now_utc(), resend=resend, only=list(only) or None, force=force
                )
            where = rt.mailer_description()
            failures = [
                f"{o.recipient}: {o.status}: {o.detail}" for o in outcomes if o.status in NOT_DONE
            ] + [f"not followed up before the report: {e}" for e in unfollowed]
            if as_json:
                echo_json(
                    {
                        "month": str(month),
                        "delivered_via": where,
                        "recipients": [
                            {
                                "recipient": o.recipient,
                                "status": o.status,
                                "message_id": o.message_id,
                                "detail": o.detail,
                            }
                            for o in outcomes
                        ],
                        "ok": not failures,
                    }
                )
            else:
                for o in outcomes:
                    click.echo(f"{o.recipient}: {o.status}")
                click.echo(f"delivered via {where}")
            _raise_partial(f"report {month}", failures)
            return
        message = build_month_report(rt, month, now_utc(), ["(preview)"])
        if not (html_file or text_file):
            body = message.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else message.as_string()
            if as_json:
                echo_json({"month": str(month), "subject": str(message["Subject"]), "text": text})
            else:
                click.echo(text)
            return
        for path, kind in ((html_file, "html"), (text_file, "plain")):
            if path is None:
                continue
            part = message.get_body(preferencelist=(kind,))
            assert part is not None  # build_report always makes both parts
            try:
                path.write_text(part.get_content(), encoding="utf-8")
            except OSError as exc:
                raise UserError(f"cannot write the report to {path}: {exc.strerror}") from None
            click.echo(f"wrote the {month} report ({kind}) to {path}")
    finally:
        rt.close()


# -- service and connectors -------------------------------------------------------


@cli.command()
@click.option("--once", is_flag=True, help="Catch up missed runs, then exit.")
@click.option(
    "--standby-poll",
    type=click.FloatRange(0.2, 60),
    default=None,
    help="Seconds between leadership attempts when another instance leads "
    "[default: service.standby_poll_seconds, 2].",
)
@click.option(
    "--listen",
    default=None,
    envvar="COACHPASS_LISTEN",
    help="host:port for /healthz, /readyz and /metrics, '' for none "
    "[default: service.listen, 127.0.0.1:8080]. Also from $COACHPASS_LISTEN.",
)
@click.option(
    "--web-listen",
    default=None,
    envvar="COACHPASS_WEB_LISTEN",
    help="host:port for the manager's page [default: web.listen, 127.0.0.1:8090]; "
    "only with a `web:` block. Also from $COACHPASS_WEB_LISTEN.",
)
@pass_state
def serve(
    state: CliState,
    once: bool,
    standby_poll: float | None,
    listen: str | None,
    web_listen: str | None,
) -> None:
    """Run the background service: book, top up, reconcile, report and remind on the
    config's cron schedule, and serve the manager's page when the config has a `web:`
    block. Several instances may run against one PostgreSQL store: one leads, the
    others stand by (and serve the page) and take over when it stops; a database
    outage is waited out."""
    from scheduler.runtime import Runtime
    from scheduler.service.serve import serve as run_service

    settings = state.settings()
    rt = Runtime.open(settings, migrate=False)
    rt.clock = now_utc
    try:
        run_service(
            rt,
            once=once,
            poll_seconds=standby_poll or settings.service.standby_poll_seconds,
            listen=settings.service.listen if listen is None else listen,
            clock=now_utc,
            web_listen=web_listen,
        )
    finally:
        rt.close()


@cli.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("coachpass-demo"),
    show_default=True,
    help="Working folder for the demo organisation (recreated).",
)
@month_option(help_text="Month to simulate, YYYY-MM (default: next month).")
@click.option("--seed", default=7, show_default=True, help="Random seed of the generated org.")
def demo(folder: Path, month: Month | None, seed: int) -> None:
    """Generate a demo organisation with local ICS calendars and run one whole month:
    plan, book, attendee behaviour, reconcile, rebook, no-shows, report."""
    from scheduler.demo.run import run_demo

    run_demo(folder, _default_month(month), seed=seed, echo=click.echo)


@cli.group()
def auth() -> None:
    """Authorise Coachpass against a calendar provider (interactive, for admins)."""


@auth.command("google")
@click.option("--connector", default="google", show_default=True, help="Connector name in config.")
@pass_state
def auth_google(state: CliState, connector: str) -> None:
    """OAuth installed-app flow; writes the token file named by oauth_token_file (mode 0600)."""
    from connectors.base import ConnectorContext
    from connectors.google.auth import authorize_installed_app

    settings = state.settings()
    path = authorize_installed_app(
        _connector_options(settings, connector),
        ConnectorContext(settings.base_dir, settings.outbox, settings.organisation.name),
    )
    click.echo(f"token written to {path}")


@auth.command("outlook")
@click.option("--connector", default="outlook", show_default=True, help="Connector name in config.")
@pass_state
def auth_outlook(state: CliState, connector: str) -> None:
    """Device code flow for an admin at a terminal; caches the token (mode 0600)."""
    from connectors.base import ConnectorContext
    from connectors.outlook.admin import authorize_device_code

    settings = state.settings()
    path = authorize_device_code(
        _connector_options(settings, connector),
        ConnectorContext(settings.base_dir, settings.outbox, settings.organisation.name),
        click.echo,
    )
    click.echo(f"token cache written to {path}")


def _connector_options(settings: Any, name: str) -> Any:
    options = settings.connectors.get(name)
    if options is None:
        raise UserError(f"{settings.source}: no connector {name!r} under 'connectors:'")
    return options


# -- the one error handler --------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    try:
        code = cli.main(args=argv, prog_name="coachpass", standalone_mode=False)
        # Without standalone mode click *returns* the code of `ctx.exit(n)` / `Exit(n)`.
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(2)
    except (UserError, ConnectorUserError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except PartialFailure as exc:
        click.echo(f"{exc.what}: {len(exc.failures)} failed:", err=True)
        for line in exc.failures:
            click.echo(f"  failed: {line}", err=True)
        sys.exit(3)
    except ConnectorError as exc:
        # A provider that kept failing (throttling, outage, lost connection) after
        # the connector's retries: not a bug, and the run may have done part of its
        # work, so 3 as for a partial run; the idempotent next run finishes it.
        click.echo(f"error: {exc}; nothing is lost, run the command again later", err=True)
        sys.exit(3)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
