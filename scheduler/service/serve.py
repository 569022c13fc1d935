"""`coachpass serve`: APScheduler with the config's cron triggers, one leader.

- Leader election: with PostgreSQL, a session-level advisory lock held on its own
  connection (it is released by the server when the process dies, so a standby
  takes over); with SQLite, an exclusive `flock` on a file beside the database.
- Catch-up: at start (and on taking over) each job's most recent scheduled firing is
  looked up; if its period has no finished run in the store, it runs now.
- SIGTERM/SIGINT stop the scheduler after the running job finishes.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from scheduler.errors import UserError
from scheduler.runtime import Runtime
from scheduler.service.jobs import JOBS, JobResult, run_job
from scheduler.store.lock import NamedLock

log = logging.getLogger("coachpass.service")


def cron_of(rt: Runtime, job: str) -> CronTrigger:
    schedule = rt.settings.schedule
    expr: str = getattr(schedule, job)
    return CronTrigger.from_crontab(expr, timezone=schedule.timezone)


def last_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The latest scheduled firing at or before `now`, looking back at most 35 days
    (a day first, so frequent schedules do not walk thousands of firings)."""
    for lookback in (timedelta(days=1), timedelta(days=35)):
        t: datetime | None = trigger.get_next_fire_time(None, now - lookback)
        last = None
        while t is not None and t <= now:
            last = t
            t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
        if last is not None:
            return last
    return None


def catch_up(
    rt: Runtime,
    now: datetime,
    log_line: Callable[[str], None],
    stop: threading.Event | None = None,
) -> list[JobResult]:
    """Run each job whose latest scheduled period has not run to completion (never
    run, failed, or left running by an instance that died). One job failing does
    not keep the others from running; it is retried by the next catch-up."""
    results = []
    for job in JOBS:
        if stop is not None and stop.is_set():
            break
        fired = last_fire_time(cron_of(rt, job), now)
        if fired is None:
            continue
        try:
            results.append(run_job(rt, job, fired, now, log=log_line))
        except Exception as exc:
            log.exception("catching up %s failed", job)
            results.append(JobResult(job, "", False, f"failed: {type(exc).__name__}: {exc}"))
    return results


class Leadership(NamedLock):
    """One leader per organisation among the instances sharing a store."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt.store.engine, f"leader:{rt.org.id}")


def serve(
    rt: Runtime,
    *,
    once: bool = False,
    poll_seconds: float = 30.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    echo: Callable[[str], None] = print,
) -> None:
    stop = threading.Event()
    # The scheduler runs in the background and the main thread only waits for a
    # stop signal: a handler that just sets an event cannot race the start-up.
    # One worker thread: jobs run one after another, never side by side on the
    # same connectors (the Google client is not thread-safe) and the same months.
    scheduler = BackgroundScheduler(
        timezone=rt.settings.schedule.timezone,
        executors={"default": ThreadPoolExecutor(max_workers=1)},
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        echo(f"received signal {signum}: stopping after the running job")
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    leader = Leadership(rt)
    lost = False
    try:
        while not leader.try_acquire():
            if once:
                echo("another instance is the leader; nothing to do")
                return
            echo(f"standby: another instance leads; retrying in {poll_seconds:.0f} s")
            if stop.wait(poll_seconds):
                return
        echo("leader: catching up missed runs")
        results = catch_up(rt, clock(), echo, stop)
        failed = [r for r in results if r.detail.startswith("failed")]
        if once:
            if failed:
                raise UserError(
                    "; ".join(f"{r.job} {r.detail}" for r in failed)
                    + " (the next run retries them)"
                )
            return
        if stop.is_set():
            return
        for job in JOBS:

            def fire(job: str = job) -> None:
                now = clock()
                try:
                    run_job(rt, job, now, now, log=echo)
                except Exception:  # the next firing retries; keep serving
                    log.exception("job %s failed", job)

            scheduler.add_job(
                fire,
                cron_of(rt, job),
                id=job,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
            )
        # Failed and interrupted runs of earlier periods are retried while serving,
        # not only at the next start: a monthly job would otherwise wait a month.
        scheduler.add_job(
            lambda: catch_up(rt, clock(), echo, stop),
            "interval",
            minutes=15,
            id="catch_up",
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        echo("serving: " + ", ".join(f"{j} [{getattr(rt.settings.schedule, j)}]" for j in JOBS))
        while not stop.wait(5.0):
            if not leader.still_held():
                echo("lost the leader lock (the database connection dropped): stopping")
                stop.set()
                lost = True
        scheduler.shutdown(wait=True)
        if lost:
            raise UserError("lost leadership to a database outage; restart to stand by again")
        echo("stopped")
    finally:
        leader.release()
