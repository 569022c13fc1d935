"""The manager's page from the CLI: `sessions link` (a session's personal link, for
support) and `remind` (the reminder e-mails the service sends every morning)."""

from __future__ import annotations

import click

from scheduler.cli.common import (
    CliState,
    echo_json,
    json_option,
    month_option,
    now_utc,
    pass_state,
)
from scheduler.errors import PartialFailure, UserError
from scheduler.model import Month


@click.command("link")
@click.argument("session")
@month_option(help_text="Month, when SESSION is a seller id (default: latest).")
@pass_state
def sessions_link(state: CliState, session: str, month: Month | None) -> None:
    """Print the manager's personal link to SESSION's page (for support: it lets its
    holder record the outcome, so give it to the session's manager only)."""
    from scheduler.runtime import Runtime
    from scheduler.sessions.actions import find_session
    from scheduler.web.keys import signer
    from scheduler.web.links import manager_link

    settings = state.settings()
    if settings.web is None:
        raise UserError(
            f"{settings.source}: no `web:` block, so sessions have no page; add "
            f"web.public_base_url and web.signing_key_env (or _file) to enable it"
        )
    rt = Runtime.open(settings)
    try:
        rec = find_session(rt, session, month, now=now_utc())
        click.echo(manager_link(settings.web, signer(settings.web), rec))
    finally:
        rt.close()


@click.command()
@json_option
@pass_state
def remind(state: CliState, as_json: bool) -> None:
    """E-mail each manager one reminder listing the sessions that ended without a
    recorded outcome (once per session, on working days; the service does it every
    morning). Sends whose outcome is unknown are listed, never repeated.

    Exit 0 when every reminder went out, 3 when some failed (the next run retries
    them)."""
    from scheduler.runtime import Runtime
    from scheduler.web.notices import send_reminders, unsettled_notices

    rt = Runtime.open(state.settings())
    try:
        summary = send_reminders(rt, now_utc())
        unsettled = unsettled_notices(rt, now_utc())
    finally:
        rt.close()
    if as_json:
        echo_json(
            {
                "skipped": summary.skipped,
                "sent": [{"manager": m, "sessions": n} for m, n in summary.sent],
                "failed": list(summary.failed),
                "unknown_outcome": [
                    {
                        "session": r["session_key"],
                        "kind": r["kind"],
                        "manager": r["manager_id"],
                        "status": r["status"],
                        "claimed": r["claimed_at"].isoformat(),
                    }
                    for r in unsettled
                ],
                "ok": not summary.failures(),
            }
        )
    else:
        if summary.skipped:
            click.echo(summary.skipped)
        else:
            click.echo(f"reminders: {summary.said()}, {len(summary.failed)} failed")
        for r in unsettled:
            click.echo(
                f"  outcome unknown: {r['kind']} notice of {r['session_key']} to "
                f"{r['manager_id']} (claimed {r['claimed_at']:%Y-%m-%d %H:%M} UTC); not resent"
            )
    if summary.failures():
        raise PartialFailure("remind", summary.failures())
