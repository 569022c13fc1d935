"""The store: sessions and their history, sync cursors, job runs, sent reports.

SQLite (one file, WAL) is the embedded default; a PostgreSQL URL works the same and
is what several service instances share. Every write that must not happen twice
(a session intent, a job run, a report send) is a row guarded by a unique
constraint, claimed *before* the side effect: a second process or a retry finds the
row and does not repeat the work.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from scheduler.errors import StoreError
from scheduler.model import Month, SessionRecord, SessionState, StateChange
from scheduler.store import session_writes
from scheduler.store.schema import job_runs, sent_reports, session_history, sessions, sync_cursors
from scheduler.store.session_writes import Intent, Move

_MIGRATIONS = Path(__file__).with_name("migrations")
#: The newest migration (tests/store checks it is alembic's head): a store at it is
#: opened without loading alembic.
HEAD_REVISION = "0005"
#: `sent_reports.status`: claimed and being sent; handed over; sender died while
#: sending (outcome unknown); an unknown send superseded by an explicit resend.
SENDING, SENT, UNKNOWN, RESENT = "sending", "sent", "unknown", "resent"
#: History detail written just before a session's create is sent to the calendar.
SENT_TO_CALENDAR = "create sent to the calendar"
#: The `job_runs` row whose start is the store's creation: a fresh store acts only
#: from then (no catch-up into the past). A row rather than a table of its own, so
#: the schema (and the migration chain other branches add to) stays as it is.
STORE_CREATED = ("_store", "created")


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable store URL>"


def _engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the CLI read while the service writes.
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front, so two processes doing
            # read-then-write (claims, compare-and-set) queue instead of failing
            # with SQLITE_BUSY half way.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # A database that goes away must make calls fail within seconds, not hang on
    # a dead TCP connection: the service then stands by and retries (and fencing
    # sees a lost lock quickly). The application name tells an operator (and the
    # tests) which process a server session belongs to.
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": 5,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 3,
            "keepalives_count": 3,
            "tcp_user_timeout": 15000,
            "application_name": f"coachpass {socket.gethostname()}:{os.getpid()}"[:63],
        },
    )


def _record(row: Any) -> SessionRecord:
    return SessionRecord(
        key=row.key,
        org_id=row.org_id,
        team_id=row.team_id,
        manager_id=row.manager_id,
        seller_id=row.seller_id,
        month=Month.parse(row.month),
        attempt=row.attempt,
        state=SessionState(row.state),
        start=row.start_at,
        end=row.end_at,
        event_id=row.event_id,
        connector=row.connector,
        video_url=row.video_url,
        reason=row.reason,
        note=row.note,
        followups=row.followups,
        verified=row.verified,
        moved=row.moved,
        attendance_status=row.attendance_status,
        attendance_detail=row.attendance_detail or "",
        attendance_checked_at=row.attendance_checked_at,
        attendance_settled_at=row.attendance_settled_at,
    )


# Built once with bound parameters: a reconcile reads and writes one cursor per
# organiser, and a statement with literal values is coerced and hashed on each call.
_CURSOR_KEY = and_(  # named apart from the columns, which SET reserves
    sync_cursors.c.connector == bindparam("k_connector"),
    sync_cursors.c.calendar_id == bindparam("k_calendar"),
    sync_cursors.c.window == bindparam("k_window"),
)
_CURSOR = select(sync_cursors.c.cursor).where(_CURSOR_KEY)
_SET_CURSOR = (
    update(sync_cursors)
    .where(_CURSOR_KEY)
    .values(
        cursor=bindparam("v_cursor"),
        updated_at=bindparam("v_at", type_=sync_cursors.c.updated_at.type),
    )
)


class Store:
    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        #: Fencing: called before every write transaction (the service sets it to
        #: its leadership check, so a deposed leader writes nothing more).
        self.fence: Callable[[], None] | None = None
        # The open `batch()` transaction of each thread, if any.
        self._local = threading.local()

    # -- opening ---------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            folder = Path(url[len("sqlite:///") :]).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder {folder} of the SQLite store: "
                    f"{exc.strerror or exc}; check store.url in the config"
                ) from None
        engine = _engine(url)
        store = cls(engine, url)
        if migrate:
            try:
                store.migrate()
            except OperationalError as exc:
                engine.dispose()
                raise StoreError(
                    f"cannot open the store at {_redact(url)}: {exc.orig}; check store.url"
                ) from None
        return store

    def migrate(self) -> None:
        if self._at_head():
            return
        # Imported here: alembic costs about 0.4 s of every command's start-up, and
        # a store already at the newest revision (every run but the first after an
        # upgrade) never needs it.
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Two instances starting together must not both create the tables.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7410421)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            self._record_creation(conn)

    def _at_head(self) -> bool:
        """Whether the store is at `HEAD_REVISION` with its creation recorded: then
        there is nothing to migrate. Any doubt (no version table yet, another
        revision) goes through alembic, which also takes the PostgreSQL lock."""
        job, period = STORE_CREATED
        try:
            with self.engine.connect() as conn:
                versions = [
                    r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")
                ]
                created = conn.execute(
                    select(job_runs.c.id).where(
                        and_(job_runs.c.job == job, job_runs.c.period == period)
                    )
                ).first()
        except DBAPIError:
            return False
        return versions == [HEAD_REVISION] and created is not None

    def _record_creation(self, conn: Connection) -> None:
        """Write the store's creation time once. A store that already has work in it
        (made before this was recorded) counts from its earliest recorded work."""
        job, period = STORE_CREATED
        found = conn.execute(
            select(job_runs.c.id).where(and_(job_runs.c.job == job, job_runs.c.period == period))
        ).first()
        if found is not None:
            return
        earliest = [
            conn.execute(select(func.min(sessions.c.created_at))).scalar(),
            conn.execute(select(func.min(job_runs.c.started_at))).scalar(),
        ]
        known = [t for t in earliest if t is not None]
        created = min(known) if known else datetime.now(UTC)
        conn.execute(
            insert(job_runs).values(
                job=job,
                period=period,
                status="done",
                owner="",
                started_at=created,
                finished_at=created,
                detail="the store was created",
            )
        )

    def created_at(self) -> datetime:
        """When this store was created: the service acts on nothing scheduled before."""
        job, period = STORE_CREATED
        with self.engine.connect() as conn:
            row = conn.execute(
                select(job_runs.c.started_at).where(
                    and_(job_runs.c.job == job, job_runs.c.period == period)
                )
            ).first()
        if row is None:  # opened without migrating; nothing recorded yet
            return datetime.now(UTC)
        return row.started_at

    def ping(self) -> None:
        """One round trip; raises when the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Writes of this thread inside the block share one transaction, committed
        when it ends: one commit (one fsync on SQLite) instead of one per write, for
        a team's intents, the results of a create call and what organisers' calendars
        showed. Each write is still a savepoint of its own (a duplicate insert undoes
        only itself), reads of this thread see the writes, the fence is still checked
        before every write, and an error undoes the whole block. Nested blocks join
        the outer one."""
        if getattr(self._local, "batch", None) is not None:
            yield
            return
        with self.engine.begin() as conn:
            self._local.batch = conn
            try:
                yield
            finally:
                self._local.batch = None

    @contextmanager
    def _tx(self, *, fenced: bool = True) -> Iterator[Connection]:
        if fenced and self.fence is not None:
            self.fence()
        batch: Connection | None = getattr(self._local, "batch", None)
        if batch is not None:
            with batch.begin_nested():
                yield batch
            return
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection to read with: this thread's open batch, so it sees its writes."""
        batch: Connection | None = getattr(self._local, "batch", None)
        if batch is not None:
            yield batch
            return
        with self.engine.connect() as conn:
            yield conn

    # -- sessions --------------------------------------------------------------

    def add_session(self, record: SessionRecord, *, now: datetime, detail: str = "") -> bool:
        """Insert a session (and its first history entry) unless its key exists.
        Returns whether it was inserted. This is the committed intent that booking
        writes before it calls the calendar."""
        return record.key in self.add_sessions([Intent(record, detail)], now=now)

    def add_sessions(self, intents: Sequence[Intent], *, now: datetime) -> set[str]:
        """`add_session` for many in one transaction (booking: a team's intents):
        each inserted unless its key exists. Returns the keys inserted."""
        if not intents:
            return set()
        try:
            with self._tx() as conn:
                return session_writes.insert_new(conn, intents, now=now)
        except IntegrityError:
            if len(intents) == 1:
                return set()
            # Another process inserted one of the keys between our look and our
            # insert (PostgreSQL): key by key, each insert its own.
            added: set[str] = set()
            for intent in intents:
                added |= self.add_sessions([intent], now=now)
            return added

    def get(self, key: str) -> SessionRecord | None:
        with self._read() as conn:
            row = conn.execute(select(sessions).where(sessions.c.key == key)).first()
        return _record(row) if row else None

    def get_many(self, keys: Sequence[str]) -> dict[str, SessionRecord]:
        """The sessions of `keys` the store holds, by key (one read per 500 keys)."""
        found: dict[str, SessionRecord] = {}
        with self._read() as conn:
            for chunk in session_writes.chunks(list(keys)):
                found.update(
                    (r.key, _record(r))
                    for r in conn.execute(select(sessions).where(sessions.c.key.in_(chunk)))
                )
        return found

    def sessions(
        self,
        *,
        org_id: str | None = None,
        month: Month | None = None,
        months: Sequence[Month] | None = None,
        states: Iterable[SessionState] | None = None,
        manager_id: str | None = None,
        seller_id: str | None = None,
        starting: tuple[datetime, datetime] | None = None,
    ) -> list[SessionRecord]:
        """Sessions matching every filter given. `starting` = [from, to): by where the
        session lies now, whatever month it was booked for (a moved one counts there)."""
        query = select(sessions)
        if org_id is not None:
            query = query.where(sessions.c.org_id == org_id)
        if month is not None:
            query = query.where(sessions.c.month == str(month))
        if months is not None:
            query = query.where(sessions.c.month.in_([str(m) for m in months]))
        if states is not None:
            query = query.where(sessions.c.state.in_([s.value for s in states]))
        if manager_id is not None:
            query = query.where(sessions.c.manager_id == manager_id)
        if seller_id is not None:
            query = query.where(sessions.c.seller_id == seller_id)
        if starting is not None:
            query = query.where(
                sessions.c.start_at >= starting[0], sessions.c.start_at < starting[1]
            )
        query = query.order_by(
            sessions.c.month,
            sessions.c.team_id,
            sessions.c.manager_id,
            sessions.c.seller_id,
            sessions.c.attempt,
        )
        with self._read() as conn:
            return [_record(r) for r in conn.execute(query)]

    def transition(
        self,
        key: str,
        to_state: SessionState,
        *,
        now: datetime,
        detail: str = "",
        expect: Iterable[SessionState] | None = None,
        **fields: Any,
    ) -> bool:
        """Move a session to `to_state` (and set `fields`) with a history entry, in one
        transaction. With `expect`, only from one of those states (compare-and-set):
        returns False when another process got there first."""
        move = Move(key, to_state, detail, None if expect is None else frozenset(expect), fields)
        return key in self.transition_many([move], now=now)

    def transition_many(self, moves: Sequence[Move], *, now: datetime) -> set[str]:
        """`transition` for many sessions (one move per key) in one transaction and a
        few statements: the results of a create call. Each move is compared and set
        on its own; returns the keys moved (one left out was moved first by another
        process or an admin). KeyError for a key the store does not hold."""
        if not moves:
            return set()
        with self._tx() as conn:
            return session_writes.move_many(conn, moves, now=now)

    def set_fields(self, key: str, *, now: datetime, **fields: Any) -> None:
        """Change fields without a state change (event id, note, follow-ups)."""
        self.set_fields_many([key], now=now, **fields)

    def set_fields_many(self, keys: Sequence[str], *, now: datetime, **fields: Any) -> None:
        """The same fields on every session of `keys`, in one transaction."""
        session_writes.columns_of(fields)
        if not keys:
            return
        with self._tx() as conn:
            session_writes.set_fields(conn, keys, fields, now=now)

    def mark_sent(self, keys: Sequence[str], *, now: datetime) -> None:
        """Record, before the calendar is asked, that a create for these sessions is
        about to be sent: afterwards `sent_before` tells a retry from a first send."""
        if not keys:
            return
        with self._tx() as conn:
            conn.execute(
                insert(session_history),
                [
                    {
                        "key": k,
                        "at": now,
                        "from_state": SessionState.PLANNED.value,
                        "to_state": SessionState.PLANNED.value,
                        "detail": SENT_TO_CALENDAR,
                    }
                    for k in keys
                ],
            )

    def sent_before(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        with self._read() as conn:
            rows = conn.execute(
                select(session_history.c.key)
                .where(session_history.c.key.in_(list(keys)))
                .where(session_history.c.detail == SENT_TO_CALENDAR)
                .distinct()
            )
            return {r.key for r in rows}

    def history(
        self,
        *,
        keys: Sequence[str] | None = None,
        org_id: str | None = None,
        month: Month | None = None,
    ) -> list[StateChange]:
        query = select(session_history).order_by(session_history.c.id)
        if keys is not None:
            query = query.where(session_history.c.key.in_(list(keys)))
        if org_id is not None or month is not None:
            sub = select(sessions.c.key)
            if org_id is not None:
                sub = sub.where(sessions.c.org_id == org_id)
            if month is not None:
                sub = sub.where(sessions.c.month == str(month))
            query = query.where(session_history.c.key.in_(sub))
        with self._read() as conn:
            return [
                StateChange(
                    key=r.key,
                    at=r.at,
                    from_state=SessionState(r.from_state) if r.from_state else None,
                    to_state=SessionState(r.to_state),
                    detail=r.detail,
                )
                for r in conn.execute(query)
            ]

    # -- sync cursors ----------------------------------------------------------

    def cursor(self, connector: str, calendar_id: str, window: str) -> str | None:
        with self._read() as conn:
            row = conn.execute(
                _CURSOR, {"k_connector": connector, "k_calendar": calendar_id, "k_window": window}
            ).first()
        return row.cursor if row else None

    def cursors(self, connector: str, window: str) -> dict[str, str]:
        """Every calendar's cursor of `connector` for `window`, by calendar id: one
        read for all the organisers of a reconcile instead of one each."""
        query = select(sync_cursors.c.calendar_id, sync_cursors.c.cursor).where(
            sync_cursors.c.connector == connector, sync_cursors.c.window == window
        )
        with self._read() as conn:
            return {r.calendar_id: r.cursor for r in conn.execute(query)}

    def set_cursor(
        self, connector: str, calendar_id: str, window: str, cursor: str, *, now: datetime
    ) -> None:
        key = {"k_connector": connector, "k_calendar": calendar_id, "k_window": window}
        with self._tx() as conn:
            done = conn.execute(_SET_CURSOR, {**key, "v_cursor": cursor, "v_at": now}).rowcount
            if not done:
                conn.execute(
                    insert(sync_cursors),
                    {
                        "connector": connector,
                        "calendar_id": calendar_id,
                        "window": window,
                        "cursor": cursor,
                        "updated_at": now,
                    },
                )

    # -- job runs --------------------------------------------------------------

    def claim_job(
        self,
        job: str,
        period: str,
        *,
        owner: str,
        now: datetime,
        stale_after: timedelta = timedelta(hours=2),
        owner_alive: Callable[[str], bool] = lambda _owner: True,
    ) -> bool:
        """Claim (job, period). False when it is done, or running elsewhere and not
        stale. A failed or stale run is taken over (the jobs are idempotent), and so
        is a run whose owner `owner_alive` says is dead (killed, rebooted)."""
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(job_runs).values(
                        job=job,
                        period=period,
                        status="running",
                        owner=owner,
                        started_at=now,
                        detail="",
                    )
                )
            return True
        except IntegrityError:
            pass
        with self._tx() as conn:
            row = conn.execute(
                select(job_runs)
                .where(and_(job_runs.c.job == job, job_runs.c.period == period))
                .with_for_update()
            ).first()
            if row is None or row.status == "done":
                return False
            if (
                row.status == "running"
                and now - row.started_at < stale_after
                and owner_alive(row.owner)
            ):
                return False
            conn.execute(
                update(job_runs)
                .where(job_runs.c.id == row.id)
                .values(status="running", owner=owner, started_at=now, finished_at=None)
            )
        return True

    def finish_job(
        self,
        job: str,
        period: str,
        *,
        ok: bool,
        now: datetime,
        detail: str = "",
        owner: str | None = None,
    ) -> bool:
        """Record how the run ended. With `owner`, only while the claim is still
        that owner's: a deposed leader must not overwrite the run its successor took
        over. Not fenced: it records this process's own claim, even after a step-down.
        Returns whether the row was updated."""
        where = and_(job_runs.c.job == job, job_runs.c.period == period)
        if owner is not None:
            where = and_(where, job_runs.c.owner == owner, job_runs.c.status == "running")
        with self._tx(fenced=False) as conn:
            done = conn.execute(
                update(job_runs)
                .where(where)
                .values(status="done" if ok else "failed", finished_at=now, detail=detail[:4000])
            ).rowcount
        return bool(done)

    def job_runs(
        self, limit: int = 50, *, job: str | None = None, failed_only: bool = False
    ) -> list[dict[str, Any]]:
        """Recent runs, newest claim first (the store's creation marker left out)."""
        query = select(job_runs).where(job_runs.c.job != STORE_CREATED[0])
        if job is not None:
            query = query.where(job_runs.c.job == job)
        if failed_only:
            query = query.where(job_runs.c.status == "failed")
        query = query.order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def last_job_runs(self) -> dict[str, dict[str, Any]]:
        """The latest run of each job: what `/readyz` shows."""
        latest = (
            select(job_runs.c.job, func.max(job_runs.c.started_at).label("at"))
            .where(job_runs.c.job != STORE_CREATED[0])
            .group_by(job_runs.c.job)
            .subquery()
        )
        query = select(job_runs).join(
            latest, and_(job_runs.c.job == latest.c.job, job_runs.c.started_at == latest.c.at)
        )
        with self.engine.connect() as conn:
            return {r.job: dict(r._mapping) for r in conn.execute(query)}

    def session_counts(self, org_id: str) -> dict[str, int]:
        """Sessions per state, for the metrics."""
        query = (
            select(sessions.c.state, func.count())
            .where(sessions.c.org_id == org_id)
            .group_by(sessions.c.state)
        )
        with self.engine.connect() as conn:
            return {state: int(n) for state, n in conn.execute(query)}

    def booked_in(self, org_id: str, month: Month) -> int:
        """How many of the month's sessions this installation got into a calendar
        (every state but `planned` and `unbookable` had an event)."""
        query = select(func.count()).where(
            and_(
                sessions.c.org_id == org_id,
                sessions.c.month == str(month),
                sessions.c.state.not_in(
                    [SessionState.PLANNED.value, SessionState.UNBOOKABLE.value]
                ),
            )
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    # -- sent reports ----------------------------------------------------------

    def claim_report(
        self,
        org_id: str,
        month: Month,
        recipient: str,
        *,
        resend: bool,
        now: datetime,
        message_id: str,
    ) -> tuple[int, str] | None:
        """Claim the right to send the month's report to `recipient`.

        Returns (claim id, Message-ID to use) or None when it was sent already (and
        this is not an explicit resend), or when the last claim is still `sending`.
        A `sending` claim is never taken over here, however old: its sender may have
        handed the mail over just before it died. The caller tells a live sender
        from a dead one by the report lock (`send_report`), records a dead one's
        claim as `unknown`, and only an explicit resend or mark-delivered moves on.
        """
        recipient = recipient.lower()
        last = self.last_report_claim(org_id, month, recipient)
        if last is not None:
            if last["status"] == SENDING or not resend:
                return None
            sequence = int(last["sequence"]) + 1
        else:
            sequence = 0
        msg_id = message_id.replace("@", f".{sequence}@", 1)
        try:
            with self._tx() as conn:
                result = conn.execute(
                    insert(sent_reports).values(
                        org_id=org_id,
                        month=str(month),
                        recipient=recipient,
                        sequence=sequence,
                        status=SENDING,
                        message_id=msg_id,
                        claimed_at=now,
                    )
                )
                claim_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        except IntegrityError:
            return None  # another instance claimed it at the same moment
        return claim_id, msg_id

    def last_report_claim(self, org_id: str, month: Month, recipient: str) -> dict[str, Any] | None:
        """The latest send (or claim) of the month's report to `recipient`."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sent_reports)
                .where(
                    and_(
                        sent_reports.c.org_id == org_id,
                        sent_reports.c.month == str(month),
                        sent_reports.c.recipient == recipient.lower(),
                    )
                )
                .order_by(sent_reports.c.sequence.desc())
                .limit(1)
            ).first()
        return dict(row._mapping) if row else None

    def mark_report_unknown(self, claim_id: int) -> None:
        """Its sender died (or lost the connection) after the mail may have been
        handed over: nobody knows whether it arrived. Only a person resolves it."""
        with self._tx() as conn:
            conn.execute(
                update(sent_reports)
                .where(sent_reports.c.id == claim_id)
                .where(sent_reports.c.status == SENDING)
                .values(status=UNKNOWN)
            )

    def resolve_report(self, claim_id: int, *, delivered: bool, now: datetime) -> None:
        """An admin's answer for an `unknown` send: it arrived (`sent`), or it did
        not and is being sent again (`resent`: the next sequence carries the copy)."""
        with self._tx() as conn:
            conn.execute(
                update(sent_reports)
                .where(sent_reports.c.id == claim_id)
                .values(status="sent", sent_at=now)
                if delivered
                else update(sent_reports).where(sent_reports.c.id == claim_id).values(status=RESENT)
            )

    def reports_with_unknown_outcome(
        self,
        *,
        now: datetime,
        org_id: str | None = None,
        stale_after: timedelta = timedelta(minutes=30),
    ) -> list[dict[str, Any]]:
        """Report sends whose outcome nobody knows, for health checks and alerts:
        those recorded `unknown`, and `sending` claims older than `stale_after` (a
        live send takes seconds; one that old has lost its sender, even if no run
        has looked at it yet). Resolved only by `report --resend` or
        `report --mark-delivered`."""
        query = select(sent_reports).where(sent_reports.c.status.in_([UNKNOWN, SENDING]))
        if org_id is not None:
            query = query.where(sent_reports.c.org_id == org_id)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query.order_by(sent_reports.c.id))]
        return [r for r in rows if r["status"] == UNKNOWN or now - r["claimed_at"] >= stale_after]

    def mark_report_sent(self, claim_id: int, *, now: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                update(sent_reports)
                .where(sent_reports.c.id == claim_id)
                .values(status="sent", sent_at=now)
            )

    def release_report(self, claim_id: int) -> None:
        """The send failed for certain (the server refused it): free the claim.
        Not fenced: it undoes this process's own claim."""
        with self._tx(fenced=False) as conn:
            conn.execute(sent_reports.delete().where(sent_reports.c.id == claim_id))

    def sent_reports(self, org_id: str, month: Month) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sent_reports)
                .where(and_(sent_reports.c.org_id == org_id, sent_reports.c.month == str(month)))
                .order_by(sent_reports.c.id)
            )
            return [dict(r._mapping) for r in rows]


def replace(record: SessionRecord, **changes: Any) -> SessionRecord:
    return dataclasses.replace(record, **changes)
