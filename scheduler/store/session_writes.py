"""Writing many sessions in few statements: the intents of a team, the results of a
create call (for `Store.add_sessions`, `Store.transition_many`, `Store.set_fields_many`).

Every statement here is built once with bound parameters and executed with the
rows as parameters (executemany where there are several). A statement with literal
values makes SQLAlchemy coerce and hash every value into a cache key on each call;
at 10,000 sessions a month that costs more than the database does.

The functions take the open connection of the caller's transaction; the store
checks the fence before it opens one (`Store._tx`).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    Insert,
    Select,
    Update,
    bindparam,
    insert,
    select,
    update,
)

from scheduler.model import SessionRecord, SessionState
from scheduler.store.schema import session_history, sessions

#: Fields a transition or `set_fields` may change (not the identity, never the state
#: outside a transition), and the columns of those named differently.
UPDATABLE = frozenset(
    {
        "start",
        "end",
        "event_id",
        "connector",
        "video_url",
        "reason",
        "note",
        "followups",
        "verified",
        "moved",
    }
)
_FIELD_COLUMNS = {"start": "start_at", "end": "end_at"}
#: Keys per `IN (...)`: within what every database takes as bound parameters.
CHUNK = 500


@dataclass(frozen=True)
class Intent:
    """A session to insert unless its key exists, with its first history entry."""

    record: SessionRecord
    detail: str = ""


@dataclass(frozen=True)
class Move:
    """One session to move to `to_state` (setting `fields`) with a history entry.
    With `expect`, only from one of those states: compare-and-set."""

    key: str
    to_state: SessionState
    detail: str = ""
    expect: frozenset[SessionState] | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


def columns_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` by column name; refuses what may not be changed."""
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise TypeError(f"not updatable: {sorted(unknown)}")
    return {_FIELD_COLUMNS.get(k, k): v for k, v in fields.items()}


def chunks(keys: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(keys), size):
        yield keys[i : i + size]


# -- statements, built once ----------------------------------------------------------

_INSERT_SESSION: Insert = insert(sessions)
_INSERT_HISTORY: Insert = insert(session_history)
# `expanding`: one statement whatever the number of keys (SQLAlchemy renders the list).
_KEYS: BindParameter[Any] = bindparam("keys", expanding=True)
_EXISTING: Select[Any] = select(sessions.c.key).where(sessions.c.key.in_(_KEYS))
# Rows locked in key order: two transactions locking overlapping keys queue, they
# do not deadlock (PostgreSQL; SQLite's write lock is whole-database).
_STATES: Select[Any] = (
    select(sessions.c.key, sessions.c.state)
    .where(sessions.c.key.in_(_KEYS))
    .order_by(sessions.c.key)
    .with_for_update()
)


def _bound(column: str) -> Any:
    # Named apart from the column: SQLAlchemy reserves a column's own name in SET.
    return bindparam(f"v_{column}", type_=sessions.c[column].type)


@functools.lru_cache(maxsize=64)
def _update_by_key(columns: tuple[str, ...]) -> Update:
    """UPDATE sessions SET <columns> WHERE key = :k_key, for executemany."""
    return (
        update(sessions)
        .where(sessions.c.key == bindparam("k_key"))
        .values({c: _bound(c) for c in columns})
    )


@functools.lru_cache(maxsize=64)
def _update_keys(columns: tuple[str, ...]) -> Update:
    """UPDATE sessions SET <columns> WHERE key IN :keys: the same values for all."""
    return update(sessions).where(sessions.c.key.in_(_KEYS)).values({c: _bound(c) for c in columns})


# -- writes --------------------------------------------------------------------------


def _session_row(record: SessionRecord, now: datetime) -> dict[str, Any]:
    return {
        "key": record.key,
        "org_id": record.org_id,
        "team_id": record.team_id,
        "manager_id": record.manager_id,
        "seller_id": record.seller_id,
        "month": str(record.month),
        "attempt": record.attempt,
        "state": record.state.value,
        "start_at": record.start,
        "end_at": record.end,
        "event_id": record.event_id,
        "connector": record.connector,
        "video_url": record.video_url,
        "reason": record.reason,
        "note": record.note,
        "followups": record.followups,
        "verified": record.verified,
        "moved": record.moved,
        "attendance_status": record.attendance_status,
        "attendance_detail": record.attendance_detail,
        "attendance_checked_at": record.attendance_checked_at,
        "attendance_settled_at": record.attendance_settled_at,
        "created_at": now,
        "updated_at": now,
    }


def existing_keys(conn: Connection, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(keys):
        found.update(r.key for r in conn.execute(_EXISTING, {"keys": list(chunk)}))
    return found


def insert_new(conn: Connection, intents: Sequence[Intent], *, now: datetime) -> set[str]:
    """Insert the intents whose key is not in the store yet (the first of a key given
    twice), each with its first history entry; returns the keys inserted.

    The look and the insert are one transaction. On SQLite it holds the write lock
    (BEGIN IMMEDIATE), so nobody inserts in between; on PostgreSQL another process
    may, and the insert then fails with an IntegrityError: the caller goes key by
    key (`Store.add_sessions`)."""
    wanted: dict[str, Intent] = {}
    for intent in intents:
        wanted.setdefault(intent.record.key, intent)
    there = existing_keys(conn, list(wanted))
    # In key order: two PostgreSQL transactions inserting overlapping keys then wait
    # for each other in one direction (the later fails on the duplicate), never in
    # a circle (a deadlock).
    new = [wanted[k] for k in sorted(wanted) if k not in there]
    if not new:
        return set()
    conn.execute(_INSERT_SESSION, [_session_row(i.record, now) for i in new])
    conn.execute(
        _INSERT_HISTORY,
        [
            {
                "key": i.record.key,
                "at": now,
                "from_state": None,
                "to_state": i.record.state.value,
                "detail": i.detail,
            }
            for i in new
        ],
    )
    return {i.record.key for i in new}


def move_many(conn: Connection, moves: Sequence[Move], *, now: datetime) -> set[str]:
    """Apply `moves` (one per key) and return the keys moved: one look at the current
    states (locked for the transaction: FOR UPDATE on PostgreSQL, the write lock on
    SQLite), compare-and-set per key, then one executemany per set of fields changed
    and one for the history. A key the store does not hold raises KeyError (nothing
    is written)."""
    keys = [m.key for m in moves]
    if len(set(keys)) != len(keys):
        raise ValueError("one move per session: the second would see the first's state")
    prepared = [(m, columns_of(m.fields)) for m in moves]
    current: dict[str, SessionState] = {}
    for chunk in chunks(sorted(keys)):
        current.update(
            (r.key, SessionState(r.state)) for r in conn.execute(_STATES, {"keys": list(chunk)})
        )
    missing = [k for k in keys if k not in current]
    if missing:
        raise KeyError(missing[0])
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    history: list[dict[str, Any]] = []
    moved: set[str] = set()
    for move, values in prepared:
        was = current[move.key]
        if move.expect is not None and was not in move.expect:
            continue  # another process (or an admin) moved it first
        row = {"state": move.to_state.value, "updated_at": now, **values}
        columns = tuple(sorted(row))
        updates.setdefault(columns, []).append(
            {"k_key": move.key, **{f"v_{c}": v for c, v in row.items()}}
        )
        if was is not move.to_state or move.detail:
            history.append(
                {
                    "key": move.key,
                    "at": now,
                    "from_state": was.value,
                    "to_state": move.to_state.value,
                    "detail": move.detail,
                }
            )
        moved.add(move.key)
    for columns, rows in updates.items():
        conn.execute(_update_by_key(columns), rows)
    if history:
        conn.execute(_INSERT_HISTORY, history)
    return moved


def set_fields(
    conn: Connection, keys: Collection[str], fields: Mapping[str, Any], *, now: datetime
) -> None:
    """The same `fields` on every session of `keys`, without a state change."""
    values = {"updated_at": now, **columns_of(fields)}
    statement = _update_keys(tuple(sorted(values)))
    params = {f"v_{c}": v for c, v in values.items()}
    for chunk in chunks(list(keys)):
        conn.execute(statement, {"keys": list(chunk), **params})
