"""`coachpass jobs list`: the service's recent job runs and failures, from the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from scheduler.cli.common import CliState, echo_json, echo_table, json_option, pass_state


@click.group("jobs")
def jobs_group() -> None:
    """What the service ran: job runs, their periods and failures."""


def _seconds(row: dict[str, Any]) -> float | None:
    started: datetime = row["started_at"]
    finished: datetime | None = row["finished_at"]
    return None if finished is None else round((finished - started).total_seconds(), 1)


@jobs_group.command("list")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 10000))
@click.option(
    "--job",
    "job",
    default=None,
    type=click.Choice(["book_next_month", "top_up", "reconcile", "report", "remind"]),
    help="Only this job.",
)
@click.option("--failed", "failed_only", is_flag=True, help="Only runs that failed.")
@json_option
@pass_state
def jobs_list(
    state: CliState, limit: int, job: str | None, failed_only: bool, as_json: bool
) -> None:
    """Recent job runs, newest first: period, status (running, done, failed), which
    instance ran it, when, and what it did or why it failed."""
    from scheduler.store.store import Store

    store = Store.open(state.settings().store_url)
    try:
        rows = store.job_runs(limit, job=job, failed_only=failed_only)
    finally:
        store.close()
    if as_json:
        echo_json(
            [
                {
                    "job": r["job"],
                    "period": r["period"],
                    "status": r["status"],
                    "owner": r["owner"],
                    "started": r["started_at"].isoformat(),
                    "finished": r["finished_at"].isoformat() if r["finished_at"] else None,
                    "seconds": _seconds(r),
                    "detail": r["detail"],
                }
                for r in rows
            ]
        )
        return
    if not rows:
        click.echo("no job runs yet" + (" that failed" if failed_only else ""))
        return
    echo_table(
        ["job", "period", "status", "started (UTC)", "secs", "instance", "detail"],
        [
            (
                r["job"],
                r["period"],
                r["status"],
                f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                "" if _seconds(r) is None else _seconds(r),
                r["owner"],
                (r["detail"][:70] + "…") if len(r["detail"]) > 70 else r["detail"],
            )
            for r in rows
        ],
    )
    failures = sum(r["status"] == "failed" for r in rows)
    if failures and not failed_only:
        click.echo(f"\n{failures} failed (retried by the service's next catch-up)")
