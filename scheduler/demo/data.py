"""A realistic demo organisation: config YAML and one `.ics` calendar per person.

Three teams of 10–15 sellers across several time zones and countries (Sweden
included), with the calendar content real calendars have: weekly recurring meetings
with an EXDATE and a moved occurrence (RECURRENCE-ID), daily stand-ups, meetings in
blocks of 30–120 minutes, all-day out-of-office days (Outlook's OOF status), travel
days, free (transparent) focus blocks and a declined invitation. Seeded, so the same
seed gives the same organisation.
"""

from __future__ import annotations

import os
import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import yaml

from scheduler.model import Month

FIRST = [
    "Anna",
    "Erik",
    "Sara",
    "Johan",
    "Maria",
    "Lars",
    "Emma",
    "Karl",
    "Elin",
    "Nils",
    "Ida",
    "Oskar",
    "Lena",
    "Hugo",
    "Maja",
    "Felix",
    "Julia",
    "Axel",
    "Klara",
    "Leo",
    "Lukas",
    "Mia",
    "Paul",
    "Hanna",
    "Jonas",
    "Laura",
    "Tom",
    "Grace",
    "Noah",
    "Olivia",
    "Liam",
    "Ava",
    "Mason",
    "Chloe",
    "Ethan",
    "Zoe",
    "Aino",
    "Mikko",
    "Ingrid",
    "Ole",
    "Sofia",
    "David",
    "Sophie",
    "Ben",
    "Ella",
]
LAST = [
    "Berg",
    "Lund",
    "Holm",
    "Nyström",
    "Ek",
    "Sjöberg",
    "Wallin",
    "Strand",
    "Dahl",
    "Lindqvist",
    "Müller",
    "Schmidt",
    "Weber",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Smith",
    "Johnson",
    "Brown",
    "Taylor",
    "Miller",
    "Davis",
    "Virtanen",
    "Hansen",
    "Olsen",
]


@dataclass(frozen=True)
class DemoPerson:
    id: str
    name: str
    email: str
    timezone: str
    country: str
    subdivision: str | None = None


# (team id, name, manager place, seller places): place = (zone, country, subdivision)
TEAMS = [
    (
        "nordics",
        "Nordics",
        ("Europe/Stockholm", "SE", None),
        [("Europe/Stockholm", "SE", None)] * 8
        + [
            ("Europe/Oslo", "NO", None),
            ("Europe/Helsinki", "FI", None),
            ("America/New_York", "US", "NY"),
            ("Europe/Stockholm", "SE", None),
        ],
    ),
    (
        "dach",
        "DACH",
        ("Europe/Berlin", "DE", "BE"),
        [("Europe/Berlin", "DE", "BE")] * 6
        + [("Europe/Berlin", "DE", "BY")] * 3
        + [
            ("Europe/Vienna", "AT", None),
            ("Europe/Zurich", "CH", "ZH"),
            ("Europe/Stockholm", "SE", None),
            ("Europe/Berlin", "DE", "HH"),
        ],
    ),
    (
        "americas",
        "Americas",
        ("America/New_York", "US", "NY"),
        [("America/New_York", "US", "NY")] * 5
        + [("America/Chicago", "US", "IL")] * 3
        + [("America/Los_Angeles", "US", "CA")] * 3
        + [
            ("Europe/London", "GB", None),
            ("America/Toronto", "CA", "ON"),
            ("America/Denver", "US", "CO"),
            ("America/New_York", "US", "NY"),
        ],
    ),
]


def _people(
    rng: random.Random, copies: int = 1
) -> list[tuple[str, str, DemoPerson, list[DemoPerson]]]:
    used: set[str] = set()

    def person(place: tuple[str, str, str | None]) -> DemoPerson:
        for attempt in range(10_000):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            pid = f"{first}.{last}".lower().replace("ö", "o").replace("ü", "u")
            if attempt > 20:  # large organisations run out of name pairs
                pid = f"{pid}{attempt}"
            if pid not in used:
                used.add(pid)
                break
        zone, country, sub = place
        return DemoPerson(
            pid, f"{first} {last}", f"{pid}@demo.coachpass.example", zone, country, sub
        )

    teams = []
    for copy in range(copies):
        for team_id, name, mgr_place, seller_places in TEAMS:
            manager = person(mgr_place)
            sellers = [person(p) for p in seller_places]
            suffix = f"-{copy + 1}" if copies > 1 else ""
            teams.append((team_id + suffix, name + suffix, manager, sellers))
    return teams


def _event(summary: str, start: datetime | date, end: datetime | date) -> icalendar.Event:
    ev = icalendar.Event()
    ev.add("uid", f"{uuid.UUID(int=random.getrandbits(128))}@demo")
    ev.add("dtstamp", datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")))
    ev.add("summary", summary)
    ev.add("dtstart", start)
    ev.add("dtend", end)
    return ev


def _calendar(
    person: DemoPerson, team: list[DemoPerson], month: Month, rng: random.Random
) -> icalendar.Calendar:
    zone = ZoneInfo(person.timezone)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Coachpass//demo data//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", person.name)
    cal.add("x-wr-timezone", person.timezone)
    # Lets the local connector put invitations into this person's calendar too.
    cal.add("x-coachpass-owner", f"mailto:{person.email}")
    first = month.first_day - timedelta(days=7)
    last = month.last_day + timedelta(days=7)

    def at(day: date, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(day, time(hh, mm), zone)

    # Weekly team meeting, Mondays 10:00 local, since before the month: one week
    # skipped (EXDATE) and one moved to Tuesday afternoon (RECURRENCE-ID override).
    monday = first - timedelta(days=first.weekday())
    weekly = _event("Weekly team meeting", at(monday, 10), at(monday, 11))
    weekly.add("rrule", {"freq": "weekly", "byday": "MO"})
    skipped = monday + timedelta(weeks=2)
    weekly.add("exdate", at(skipped, 10))
    cal.add_component(weekly)
    moved_day = monday + timedelta(weeks=3)
    override = _event(
        "Weekly team meeting (moved)",
        at(moved_day + timedelta(days=1), 14),
        at(moved_day + timedelta(days=1), 15),
    )
    override["uid"] = weekly["uid"]
    override.add("recurrence-id", at(moved_day, 10))
    cal.add_component(override)
    # Daily stand-up for sellers, weekdays 08:45–09:00.
    if person not in team[:1]:
        standup = _event("Stand-up", at(monday, 8, 45), at(monday, 9))
        standup.add("rrule", {"freq": "weekly", "byday": ["MO", "TU", "WE", "TH", "FR"]})
        cal.add_component(standup)
    # Meetings in blocks of 30–120 minutes, about 35–65 % of the working day.
    density = rng.uniform(0.35, 0.65)
    day = first
    while day <= last:
        if day.weekday() < 5:
            minute = 9 * 60 + 15
            while minute < 17 * 60:
                length = rng.choice([30, 30, 45, 60, 60, 90, 120])
                if rng.random() < density:
                    start = at(day, minute // 60, minute % 60)
                    ev = _event(
                        rng.choice(
                            [
                                "Customer call",
                                "Pipeline review",
                                "Demo",
                                "Internal sync",
                                "Proposal work",
                                "1:1",
                            ]
                        ),
                        start,
                        start + timedelta(minutes=length),
                    )
                    cal.add_component(ev)
                minute += length + rng.choice([0, 15, 30])
        day += timedelta(days=1)
    # Out of office: a vacation of 2–4 days for some, single OOF days for others.
    workdays = [month.first_day + timedelta(days=i) for i in range(month.last_day.day)]
    workdays = [d for d in workdays if d.weekday() < 5]
    if rng.random() < 0.35:
        start_day = rng.choice(workdays[:-4])
        oof = _event("Vacation", start_day, start_day + timedelta(days=rng.randint(2, 4)))
        oof.add("x-microsoft-cdo-busystatus", "OOF")
        cal.add_component(oof)
    if rng.random() < 0.5:
        d = rng.choice(workdays)
        oof = _event("Out of office", d, d + timedelta(days=1))
        oof.add("x-microsoft-cdo-busystatus", "OOF")
        cal.add_component(oof)
    if rng.random() < 0.3:
        d = rng.choice(workdays)
        cal.add_component(_event("Travel to customer", d, d + timedelta(days=1)))
    # Free time that must not block: a transparent focus block and a declined invite.
    d = rng.choice(workdays)
    focus = _event("Focus time", at(d, 13), at(d, 15))
    focus.add("transp", "TRANSPARENT")
    cal.add_component(focus)
    d = rng.choice(workdays)
    declined = _event("Optional webinar", at(d, 15), at(d, 16))
    declined.add("organizer", "mailto:marketing@demo.coachpass.example")
    attendee = icalendar.vCalAddress(f"mailto:{person.email}")
    attendee.params["PARTSTAT"] = "DECLINED"
    declined.add("attendee", attendee)
    cal.add_component(declined)
    cal.add_missing_timezones()
    return cal


def person_calendar(person: DemoPerson, *, manager: bool, month: Month, seed: int = 7) -> bytes:
    """One person's realistic calendar around `month` (the weeks before and after
    included; recurring meetings go on), as `.ics` bytes. `coachpass init` writes the
    example config's calendars with it."""
    rng = random.Random(f"{seed}:{person.id}")
    random.seed(f"{seed}:{person.id}")  # event UIDs
    team = [person] if manager else []
    return _calendar(person, team, month, rng).to_ical()


def generate(folder: Path, month: Month, seed: int = 7, copies: int = 1) -> Path:
    """Write `coachpass.yaml` and `calendars/<id>.ics` into `folder`; return the config."""
    rng = random.Random(seed)
    random.seed(seed)  # event UIDs
    teams = _people(rng, copies)
    cal_dir = folder / "calendars"
    cal_dir.mkdir(parents=True, exist_ok=True)
    (folder / "outbox").mkdir(exist_ok=True)
    (folder / "meetings").mkdir(exist_ok=True)
    config_teams = []
    for team_id, name, manager, sellers in teams:
        everyone = [manager, *sellers]
        for person in everyone:
            cal = _calendar(person, everyone, month, rng)
            (cal_dir / f"{person.id}.ics").write_bytes(cal.to_ical())

        def entry(p: DemoPerson) -> dict[str, object]:
            out: dict[str, object] = {
                "id": p.id,
                "name": p.name,
                "email": p.email,
                "timezone": p.timezone,
                "country": p.country,
                "calendar": f"{p.id}.ics",
            }
            if p.subdivision:
                out["subdivision"] = p.subdivision
            return out

        config_teams.append(
            {
                "id": team_id,
                "name": name,
                "manager": entry(manager),
                "sellers": [entry(s) for s in sellers],
            }
        )
    config = {
        "organisation": {
            "id": "demo",
            "name": "Coachpass Demo AB",
            "timezone": "Europe/Stockholm",
            "country": "SE",
            "language": "en",
        },
        "policy": {
            "session_minutes": 45,
            "buffer_minutes": 10,
            "working_hours": {
                "start": "08:00",
                "end": "17:00",
                "weekdays": ["mon", "tue", "wed", "thu", "fri"],
            },
            "earliest_day": 1,
            "latest_day": 28,
            "lead_time_hours": 24,
            "max_sessions_per_manager_day": 3,
            "target_minutes_per_manager_week": 120,
            "max_minutes_per_manager_week": 240,
            "rebook_on_decline": True,
            "rebook_on_cancel": True,
            "preferred_hours": {"start": "09:00", "end": "12:00"},
            "online_meeting": True,
            "solver_time_limit_seconds": 10,
            "video_url_template": "https://meet.demo.coachpass.example/{key}",
        },
        "defaults": {"connector": "local"},
        "teams": config_teams,
        "leadership": [
            {"name": "Karin Sales-Director", "email": "karin@demo.coachpass.example"},
            {"name": "Per CEO", "email": "per@demo.coachpass.example"},
        ],
        # The demo's meeting tool drops an attendance report per session there
        # (scheduler.demo.meetings); reconcile reads them into verified outcomes.
        "connectors": {
            "local": {"path": "calendars", "outbox": "outbox", "attendance_dir": "meetings"}
        },
        "mail": {"from": "Coachpass <coachpass@demo.coachpass.example>", "outbox": "outbox"},
        # Managers' personal links (e-mailed to them only) open their page in
        # `coachpass serve`; the key is generated below, readable by its owner only.
        "web": {
            "public_base_url": "http://127.0.0.1:8090",
            "listen": "127.0.0.1:8090",
            "signing_key_file": "secrets/web-signing.key",
        },
        "store": {"url": "sqlite:///coachpass.db"},
        "schedule": {"timezone": "Europe/Stockholm"},
    }
    _signing_key(folder / "secrets" / "web-signing.key")
    path = folder / "coachpass.yaml"
    header = (
        "# Demo organisation generated by `coachpass demo`; every calendar is a plain\n"
        "# .ics file in calendars/, invitations and reports are .eml files in outbox/.\n"
    )
    path.write_text(
        header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return path


def _signing_key(path: Path) -> None:
    """A random link signing key for the demo (a new one per demo run: the demo
    starts from an empty folder), created owner-only from the start."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
