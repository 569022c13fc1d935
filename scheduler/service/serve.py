"""`coachpass serve`: APScheduler with the config's cron triggers, one leader.

- Leader election: with PostgreSQL, a session-level advisory lock held on its own
  connection (the server releases it when the process dies, so a standby takes
  over within one poll); with SQLite, an exclusive `flock` beside the database.
- Fencing: while an instance leads, `Runtime.fence` is the lock check, so every
  calendar write, mail and store write of every job (catch-up included) first makes
  sure the lock is still held. An instance whose database session is cut stops
  before its next side effect, goes back to standby and tries again later.
- The database may be away at any time, at start too: both roles retry with
  back-off and never leave the process for it. Each state is logged once when it
  begins (standby, database unreachable, leading), not on every poll.
- Catch-up: on taking the lead (and every 15 minutes) each job's latest scheduled
  firing since the store was created is looked up; a period without a finished run
  runs now. A fresh store has nothing to catch up.
- The manager's page (`scheduler.web`, with a `web:` block) is served by every
  instance, standby too: it writes only the store. What it records (a new time
  asked) is carried out by the leader every few seconds, like a job.
- SIGTERM/SIGINT stop the scheduler after the running job finishes.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import SQLAlchemyError

from scheduler.errors import PartialFailure, StoreError
from scheduler.runtime import Runtime
from scheduler.service import http
from scheduler.service.cron import crontab_trigger, previous_fire_time
from scheduler.service.jobs import EXPECTED_FAILURES, JOBS, JobResult, run_job
from scheduler.store.lock import LostLeadership, NamedLock
from scheduler.web.requests import perform_requests

log = logging.getLogger("coachpass.service")

#: Longest wait between attempts to reach a database that is away.
MAX_BACKOFF = 5.0
#: How often the leader checks that it still holds the lock between jobs (the fence
#: checks before every side effect regardless).
LEADER_CHECK_SECONDS = 2.0
#: How often the leader looks for requests the manager's page recorded.
REQUESTS_SECONDS = 3.0


def cron_of(rt: Runtime, job: str) -> CronTrigger:
    schedule = rt.settings.schedule
    expr: str = getattr(schedule, job)
    return crontab_trigger(expr, schedule.timezone)


def catch_up(
    rt: Runtime,
    now: datetime,
    log_line: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    *,
    leading: bool = False,
) -> list[JobResult]:
    """Run each job whose latest scheduled period since the store's creation has not
    run to completion (never run, failed, or left running by an instance that died).
    One job failing does not keep the others from running; it is retried by the next
    catch-up. `LostLeadership` is not a failure: it ends the catch-up at once."""
    created = rt.store.created_at()
    results = []
    for job in JOBS:
        if stop is not None and stop.is_set():
            break
        fired = previous_fire_time(cron_of(rt, job), now, created)
        if fired is None:
            continue
        try:
            results.append(run_job(rt, job, fired, now, log=log_line, leading=leading))
        except LostLeadership:
            raise
        except PartialFailure as exc:
            lines = tuple(dict.fromkeys(exc.failures))  # the same person once, not per month
            log.error("catching up %s: %d failed: %s", job, len(lines), "; ".join(lines))
            results.append(JobResult(job, "", False, f"failed: {exc}", lines))
        except EXPECTED_FAILURES as exc:
            log.error("catching up %s failed: %s", job, exc)
            results.append(JobResult(job, "", False, f"failed: {exc}", (str(exc),)))
        except Exception as exc:
            log.exception("catching up %s failed", job)
            text = f"{type(exc).__name__}: {exc}"  # a bug: its class helps whoever fixes it
            results.append(JobResult(job, "", False, f"failed: {text}", (f"{text} (see the log)",)))
    return results


class Leadership(NamedLock):
    """One leader per organisation among the instances sharing a store."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt.store.engine, f"leader:{rt.org.id}")


@dataclass
class _Once:
    """Logs a state once when it begins, not on every poll."""

    last: str = ""

    def __call__(self, key: str, message: str, level: int = logging.INFO) -> None:
        if key != self.last:
            self.last = key
            log.log(level, "%s", message)


class _Backoff:
    """Exponential back-off with jitter for a database that is away."""

    def __init__(self, ceiling: float = MAX_BACKOFF) -> None:
        self.ceiling = ceiling
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.ceiling, 0.5 * 2**self.attempt)
        self.attempt += 1
        return delay * random.uniform(0.7, 1.0)

    def reset(self) -> None:
        self.attempt = 0


def serve(
    rt: Runtime,
    *,
    once: bool = False,
    poll_seconds: float = 2.0,
    listen: str = "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    echo: Callable[[str], None] | None = None,
    web_listen: str | None = None,
) -> None:
    """Lead or stand by until SIGTERM. `once`: catch up missed runs, then return
    (a standby or an unreachable database make it return at once). With a `web`
    block the manager's page is served on every instance (`web_listen` overrides
    `web.listen`); the leader carries out what the page records."""
    say = echo or (lambda m: log.info("%s", m))
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d: stopping after the running job", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    state = http.ServiceState()
    status = None if once else http.start(listen, rt.store, rt.org.id, state)
    if status is not None:
        log.info("health and metrics on http://%s:%d/ (healthz, readyz, metrics)", *status.address)
    page = None
    if not once and rt.settings.web is not None:
        from scheduler.web.server import PageServer

        try:
            page = PageServer(rt, web_listen, clock=clock)
        except BaseException:
            if status is not None:
                status.close()
            raise
        log.info(
            "manager's page on http://%s:%d/ (links point to %s)",
            *page.address,
            rt.settings.web.public_base_url,
        )
    leader = Leadership(rt)
    # Installed for good: while standing by, the lock is not held, so nothing can act.
    rt.fence = leader.ensure
    once_log = _Once()
    backoff = _Backoff()
    migrated = False
    try:
        while not stop.is_set():
            if not migrated:
                try:
                    rt.store.migrate()
                    migrated = True
                except (SQLAlchemyError, StoreError) as exc:
                    if once:
                        raise StoreError(f"cannot reach the store's database: {exc}") from None
                    _unreachable(state, once_log, type(exc).__name__, str(exc))
                    stop.wait(backoff.next())
                    continue
            if not leader.try_acquire():
                if leader.unreachable:
                    if once:
                        raise StoreError(f"cannot reach the store's database: {leader.unreachable}")
                    _unreachable(state, once_log, "lock", leader.unreachable)
                    stop.wait(backoff.next())
                    continue
                backoff.reset()
                if once:
                    say("another instance is the leader; nothing to do")
                    return
                state.database_problem = ""
                state.set_role("standby")
                once_log(
                    "standby",
                    f"standby: another instance leads; taking over when it stops "
                    f"(trying every {poll_seconds:g} s)",
                )
                stop.wait(poll_seconds)
                continue
            state.database_problem = ""
            state.set_role("leader")
            once_log("leader", "leader: this instance runs the jobs")
            lost = _lead(rt, leader, stop, once=once, clock=clock, say=say)
            if once:
                if lost:
                    raise StoreError(f"stopped: {lost}; the next run finishes the catch-up")
                return
            if lost:
                state.set_role("standby")
                once_log(
                    "stepped-down",
                    f"stepped down to standby: {lost}; trying to lead again",
                    logging.WARNING,
                )
                # Lost to a database that fails: do not hammer it by retrying the
                # lead at once (the back-off resets once a poll succeeds).
                stop.wait(backoff.next())
    finally:
        state.set_role("stopping")
        leader.release()
        if status is not None:
            status.close()
        if page is not None:
            page.close()
        log.info("stopped")


def _unreachable(state: http.ServiceState, once_log: _Once, what: str, reason: str) -> None:
    state.database_problem = reason
    state.set_role("starting" if state.role == "starting" else "standby")
    once_log(
        f"unreachable:{what}",
        f"database unreachable ({reason}); retrying with back-off",
        logging.WARNING,
    )


def _lead(
    rt: Runtime,
    leader: Leadership,
    stop: threading.Event,
    *,
    once: bool,
    clock: Callable[[], datetime],
    say: Callable[[str], None],
) -> str:
    """Run the jobs while the lock is held. Returns "" when stopped, or why the
    lead was lost."""
    try:
        say("leader: catching up missed runs")
        results = catch_up(rt, clock(), say, stop, leading=True)
    except LostLeadership as exc:
        return str(exc)
    except SQLAlchemyError as exc:  # reading the store's creation, say
        return f"the database failed during catch-up ({type(exc).__name__})"
    if once:
        try:
            perform_requests(rt, clock())
        except LostLeadership as exc:
            return str(exc)
        failed = [r for r in results if r.detail.startswith("failed")]
        if failed:
            # The other jobs ran: a partial run (exit 3), each failure once, in the
            # user's words; the next run retries them.
            lines = [f"{r.job}: {line}" for r in failed for line in r.failures]
            raise PartialFailure(
                "serve --once (the next run retries what failed)", list(dict.fromkeys(lines))
            )
        return ""
    if stop.is_set():
        return ""
    lost: list[str] = []
    # One worker thread: jobs run one after another, never side by side on the same
    # connectors (the Google client is not thread-safe) and the same months.
    scheduler = BackgroundScheduler(
        timezone=rt.settings.schedule.timezone,
        executors={"default": ThreadPoolExecutor(max_workers=1)},
    )

    def guarded(body: Callable[[], object], name: str) -> None:
        try:
            body()
        except LostLeadership as exc:
            lost.append(str(exc))
        except EXPECTED_FAILURES as exc:  # recorded; the next catch-up retries
            log.error("job %s failed: %s", name, exc)
        except Exception:  # a bug: keep its traceback, keep serving
            log.exception("job %s failed", name)

    for job in JOBS:

        def fire(job: str = job) -> None:
            now = clock()
            guarded(lambda: run_job(rt, job, now, now, log=say, leading=True), job)

        scheduler.add_job(
            fire, cron_of(rt, job), id=job, max_instances=1, coalesce=True, misfire_grace_time=3600
        )
    # Failed and interrupted runs of earlier periods are retried while serving, not
    # only at the next start: a monthly job would otherwise wait a month.
    scheduler.add_job(
        lambda: guarded(lambda: catch_up(rt, clock(), say, stop, leading=True), "catch_up"),
        "interval",
        minutes=15,
        id="catch_up",
        max_instances=1,
        coalesce=True,
    )
    # What the manager's page recorded (a new time asked) is done by the leader,
    # within seconds, in the same single worker as the jobs.
    scheduler.add_job(
        lambda: guarded(lambda: perform_requests(rt, clock()), "page_requests"),
        "interval",
        seconds=REQUESTS_SECONDS,
        id="page_requests",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    say("serving: " + ", ".join(f"{j} [{getattr(rt.settings.schedule, j)}]" for j in JOBS))
    try:
        while not stop.wait(LEADER_CHECK_SECONDS):
            if lost:
                break
            if not leader.still_held():
                lost.append(f"lost the leader lock ({leader.unreachable or 'session ended'})")
                break
    finally:
        # The running job finishes or meets the fence; nothing new starts.
        scheduler.shutdown(wait=True)
    return lost[0] if lost else ""
