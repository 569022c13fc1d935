"""Admin controllers: list, add and remove teams and people, import people from CSV.

Every edit follows one path (`edit_config`): read the YAML as written, change the
data, check the *whole* result exactly as `config validate` would, and only then
write it atomically (temporary file + `os.replace`), keeping the previous file as
`<name>.bak`. A change that would make the config invalid raises `ConfigError` and
leaves the file untouched. The YAML is edited round-trip (`settings.roundtrip`):
comments, quotes and layout are kept. Edits are serialised by a file lock and
refuse to overwrite a file that changed since it was read, so no update is lost.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from scheduler.errors import ConfigError, UserError
from scheduler.settings import roundtrip
from scheduler.settings.load import Settings, build_settings, check_file, check_text
from scheduler.settings.people_csv import PersonRow, load_people_csv

T = TypeVar("T")


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def team_rows(settings: Settings) -> list[dict[str, Any]]:
    """One row per team, for `teams list`."""
    return [
        {
            "id": team.id,
            "name": team.name,
            "manager": team.manager.id,
            "manager_email": team.manager.email,
            "sellers": len(team.sellers),
            "connectors": ",".join(
                sorted({team.manager.connector, *(s.connector for s in team.sellers)})
            ),
        }
        for team in settings.organisation.teams
    ]


def people_rows(settings: Settings, team: str | None = None) -> list[dict[str, Any]]:
    """One row per person (managers first in each team), for `people list` and export."""
    teams = settings.organisation.teams
    if team is not None:
        teams = tuple(t for t in teams if t.id == team)
        if not teams:
            raise UserError(f"{settings.source}: no team {team!r}; teams: {_team_ids(settings)}")
    rows: list[dict[str, Any]] = []
    for t in teams:
        for role, person in [("manager", t.manager), *(("seller", s) for s in t.sellers)]:
            rows.append(
                {
                    "team": t.id,
                    "id": person.id,
                    "name": person.name,
                    "email": person.email,
                    "timezone": person.timezone,
                    "country": person.country,
                    "connector": person.connector,
                    "calendar": person.calendar_id,
                    "role": role,
                    "subdivision": person.subdivision or "",
                }
            )
    return rows


def _team_ids(settings: Settings) -> str:
    return ", ".join(t.id for t in settings.organisation.teams) or "(none)"


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


class ConcurrentEdit(UserError):
    """The file changed under an edit (someone saved it by hand meanwhile)."""


@contextmanager
def _edit_lock(path: Path) -> Iterator[None]:
    """An exclusive lock for one read-modify-write of `path`, across processes.

    The lock is on a sibling file, not on the config itself: the config is replaced
    atomically (a new inode), so a lock on it would guard a file nobody reads any
    more. The lock file is never deleted: removing it would let a waiter lock the old
    inode while a newcomer locks a new one."""
    target = path.resolve() if path.is_symlink() else path
    lock_path = target.with_name(f".{target.name}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UserError(
            f"{path}: cannot create the edit lock {lock_path}: {exc.strerror}; "
            "the config's folder must be writable by whoever edits it"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such config file (`coachpass init` writes one)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None


def _plain(value: Any) -> Any:
    """A deep copy as plain dicts and lists (comments and styles dropped)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def edit_config(path: Path, change: Callable[[dict[str, Any]], T], *, dry_run: bool = False) -> T:
    """Apply `change` to the config's data; write the result only if it is valid.

    `change` mutates the mapping it is given (ruamel's round-trip containers, so
    comments, quotes and layout of everything it does not touch stay as written) and
    returns what the command reports; a `UserError` from it aborts the edit. With
    `dry_run` the result is checked but not written.

    Never loses an update: the whole read-modify-write runs under an exclusive lock
    (two `people add` at once take turns), and before writing the file is read again:
    if it changed since it was read (saved by hand meanwhile), nothing is written and
    the admin is told to run the command again.
    """
    with _edit_lock(path):
        original = _read(path)
        data, yaml = roundtrip.load(original, path)
        if not isinstance(data, dict):
            raise UserError(f"{path}: the file must be a mapping of sections; fix it by hand first")
        before = _plain(data)  # cheaper than a second dump, which is the slow part
        tails = roundtrip.detach_section_tails(data)
        result = change(data)
        roundtrip.reattach_section_tails(data, tails)
        if _plain(data) == before:
            return result  # nothing to change: the file is not rewritten
        text = roundtrip.dump(data, yaml)
        checked = check_text(text, path)
        if checked.problems:
            raise ConfigError(
                [f"{path}: not changed: the edit would make the config invalid:", *checked.messages]
            )
        if dry_run:
            return result
        if _read(path) != original:
            raise ConcurrentEdit(
                f"{path}: not changed: the file was changed by someone else while this "
                "edit ran; run the command again"
            )
        write_atomically(path, text)
    return result


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so a crash leaves either the old or the new file,
    never half of one; the old file is kept as `<name>.bak`. A symlinked config
    (e.g. /etc/coachpass/coachpass.yaml -> a checkout) stays a symlink: the file it
    points to is replaced."""
    path = path.resolve() if path.is_symlink() else path
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            shutil.copy2(path, path.with_name(path.name + ".bak"))
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _teams(data: dict[str, Any]) -> list[dict[str, Any]]:
    teams = data.get("teams")
    if teams is None:
        teams = data["teams"] = []
    if not isinstance(teams, list):
        raise UserError("'teams:' in the config is not a list; fix it by hand first")
    return teams


def _find_team(data: dict[str, Any], team_id: str) -> dict[str, Any] | None:
    for team in _teams(data):
        if isinstance(team, dict) and team.get("id") == team_id:
            return team
    return None


def _sellers(team: dict[str, Any]) -> list[dict[str, Any]]:
    sellers = team.get("sellers")
    if sellers is None:
        sellers = team["sellers"] = []
    return sellers


def _append_seller(team: dict[str, Any], person: Mapping[str, Any]) -> None:
    sellers = _sellers(team)
    roundtrip.append(sellers, roundtrip.like_siblings(sellers, person))


def _drop_seller(team: dict[str, Any], person_id: str) -> None:
    """Removed in place: the comments on the other sellers' lines stay."""
    sellers = _sellers(team)
    for index in reversed(range(len(sellers))):
        if isinstance(sellers[index], dict) and sellers[index].get("id") == person_id:
            roundtrip.remove_at(sellers, index)


def _manager_like(data: dict[str, Any], manager: Mapping[str, Any]) -> Any:
    """A manager written like the other teams' managers (one line or a block)."""
    others = [t.get("manager") for t in _teams(data) if isinstance(t, dict)]
    return roundtrip.like_siblings([m for m in others if isinstance(m, dict)], manager)


def _append_team(data: dict[str, Any], team: dict[str, Any]) -> None:
    manager = team.get("manager")
    if isinstance(manager, Mapping):
        team["manager"] = _manager_like(data, manager)
    node = roundtrip.CommentedMap(team)
    node["sellers"] = roundtrip.new_list()
    for seller in team.get("sellers") or []:
        _append_seller(node, seller)
    roundtrip.append(_teams(data), node)


def _where_is(data: dict[str, Any], person_id: str) -> tuple[dict[str, Any], str] | None:
    """(team, role) of a person written in the YAML file."""
    for team in _teams(data):
        if not isinstance(team, dict):
            continue
        manager = team.get("manager")
        if isinstance(manager, dict) and manager.get("id") == person_id:
            return team, "manager"
        for seller in _sellers(team):
            if isinstance(seller, dict) and seller.get("id") == person_id:
                return team, "seller"
    return None


def person_data(**fields: str | None) -> dict[str, str]:
    """A person as written in the YAML file: only the keys that were given."""
    return {key: value for key, value in fields.items() if value}


def add_team(
    path: Path,
    team_id: str,
    name: str,
    manager: Mapping[str, str],
    *,
    connector: str | None = None,
) -> None:
    def change(data: dict[str, Any]) -> None:
        if _find_team(data, team_id) is not None:
            raise UserError(f"{path}: team {team_id!r} exists already")
        team: dict[str, Any] = {"id": team_id, "name": name}
        if connector:
            team["connector"] = connector
        team["manager"] = dict(manager)
        team["sellers"] = []
        _append_team(data, team)

    edit_config(path, change)


def remove_team(path: Path, team_id: str, *, force: bool = False) -> int:
    """Remove a team; returns how many sellers went with it. A team with sellers is
    only removed with `force`, so nobody is dropped from coaching by a slip."""

    def change(data: dict[str, Any]) -> int:
        team = _find_team(data, team_id)
        if team is None:
            known = ", ".join(str(t.get("id")) for t in _teams(data) if isinstance(t, dict))
            raise UserError(f"{path}: no team {team_id!r}; teams: {known or '(none)'}")
        count = len(_sellers(team))
        if count and not force:
            raise UserError(
                f"team {team_id!r} has {count} seller(s): move or remove them first, "
                "or use --force to remove them with the team"
            )
        teams = _teams(data)
        roundtrip.remove_at(teams, next(i for i, t in enumerate(teams) if t is team))
        return count

    return edit_config(path, change)


def add_person(path: Path, team_id: str, person: Mapping[str, str]) -> None:
    """Add a seller to a team written in the YAML file."""

    def change(data: dict[str, Any]) -> None:
        team = _find_team(data, team_id)
        if team is None:
            raise UserError(f"{path}: no team {team_id!r}; add it first with `coachpass teams add`")
        found = _where_is(data, person["id"])
        if found is not None:
            raise UserError(
                f"person id {person['id']!r} exists already ({found[1]} in team "
                f"{found[0].get('id')!r})"
            )
        _append_seller(team, person)

    edit_config(path, change)


def remove_person(path: Path, person_id: str) -> str:
    """Remove a seller; returns their team id. Managers go with their team (or are
    replaced), never alone, so no team is left without a manager."""

    def change(data: dict[str, Any]) -> str:
        found = _where_is(data, person_id)
        if found is None:
            hint = ""
            if data.get("people_csv"):
                hint = f" (people from {data['people_csv']} are removed there)"
            raise UserError(f"{path}: no person {person_id!r} in the file{hint}")
        team, role = found
        if role == "manager":
            raise UserError(
                f"{person_id!r} manages team {team.get('id')!r}: remove the team or give it "
                "another manager first"
            )
        _drop_seller(team, person_id)
        return str(team.get("id"))

    return edit_config(path, change)


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int
    teams_created: tuple[str, ...] = ()
    people: tuple[str, ...] = ()  # ids of every row, for the checks after writing

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.teams_created)


def import_people(
    path: Path, csv_path: Path, *, default_team: str | None = None, dry_run: bool = False
) -> ImportResult:
    """Copy people from a CSV file into the YAML file.

    Every row is checked first (file, line and column named); then rows are merged
    by person id: new people are added, people whose cells differ are updated (a
    seller whose team changed is moved), the rest are unchanged, so importing the
    same file twice changes nothing. A `manager` row sets its team's manager and
    creates the team when it does not exist. Nothing is written if any row, or the
    resulting config, is invalid.
    """
    rows = load_people_csv(csv_path, default_team=default_team)
    resolved = _resolved_people(path)

    def change(data: dict[str, Any]) -> ImportResult:
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        created: list[str] = []
        problems: list[str] = []
        # Managers first: a seller row may come before its team's manager row.
        for row in sorted(rows, key=lambda r: r.role != "manager"):
            outcome = _import_row(data, row, created, resolved)
            if outcome in counts:
                counts[outcome] += 1
            else:
                problems.append(outcome)
        if problems:
            raise ConfigError(problems)
        return ImportResult(
            counts["added"],
            counts["updated"],
            counts["unchanged"],
            tuple(created),
            tuple(dict.fromkeys(r.person["id"] for r in rows)),
        )

    result = edit_config(path, change, dry_run=dry_run)
    return result


def _resolved_people(path: Path) -> dict[str, dict[str, Any]]:
    """People with their defaults filled in, from the config as it is (when valid),
    so that importing an export of it changes nothing."""
    checked = check_file(path)
    if checked.config is None:
        return {}
    settings = build_settings(checked.config, checked.csv_rows, path)
    return {row["id"]: row for row in people_rows(settings)}


def _merge(
    existing: dict[str, Any], person: Mapping[str, str], resolved: Mapping[str, Any] | None
) -> str:
    if resolved is not None:
        # A cell equal to what the person already gets by default is not a change.
        person = {k: v for k, v in person.items() if k in existing or str(resolved.get(k, "")) != v}
    merged = {**existing, **person}
    if merged == existing:
        return "unchanged"
    existing.update(person)
    return "updated"


def _import_row(
    data: dict[str, Any],
    row: PersonRow,
    created: list[str],
    resolved: Mapping[str, Mapping[str, Any]],
) -> str:
    """Apply one row; returns added / updated / unchanged or a problem line."""
    person = dict(row.person)
    team = _find_team(data, row.team)
    found = _where_is(data, person["id"])
    if row.role == "manager":
        if team is None:
            _append_team(data, {"id": row.team, "name": row.team, "manager": person, "sellers": []})
            created.append(row.team)
            return "updated" if found else "added"
        manager = team.get("manager")
        if isinstance(manager, dict) and manager.get("id") == person["id"]:
            return _merge(manager, person, resolved.get(person["id"]))
        team["manager"] = _manager_like(data, person)
        return "updated" if found else "added"
    if team is None:
        return str(
            row.problem(
                "team",
                f"no team {row.team!r}: add it with `coachpass teams add`, or add a row "
                "with role manager for it",
            )
        )
    if found is not None:
        old_team, role = found
        if role == "manager":
            return str(row.problem("role", f"{person['id']!r} manages team {old_team.get('id')!r}"))
        existing = next(s for s in _sellers(old_team) if s.get("id") == person["id"])
        if old_team is team:
            return _merge(existing, person, resolved.get(person["id"]))
        # The seller moved team: HR's export is the newer truth.
        _drop_seller(old_team, person["id"])
        _append_seller(team, {**existing, **person})
        return "updated"
    _append_seller(team, person)
    return "added"
