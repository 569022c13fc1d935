"""Config loading and validation: every invalid snippet with the exact line it prints."""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.cli.main import main
from scheduler.errors import ConfigError, UserError
from scheduler.settings.load import json_schema, load_settings, validate_file
from scheduler.settings.yaml_lines import ConfigLoader, dump_yaml, parse_yaml
from tests.orgs import EMPTY_ICS

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "coachpass.example.yaml"

# Line numbers matter: the expected messages below count lines of this text.
BASE = """\
organisation:
  id: acme
  name: Acme
  timezone: Europe/Stockholm
  country: SE
  language: sv
policy:
  session_minutes: 45
  working_hours: {start: "08:00", end: "17:00"}
teams:
  - id: nordics
    name: Nordics
    manager: {id: anna, name: Anna Berg, email: anna@acme.example}
    sellers:
      - {id: erik, name: Erik Lund, email: erik@acme.example}
      - {id: sara, name: Sara Ek, email: sara@acme.example}
connectors:
  local: {path: calendars}
schedule:
  report: "0 8 1 * *"
"""

SARA = "{id: sara, name: Sara Ek, email: sara@acme.example}"
SECOND_TEAM = """\
      - {id: sara, name: Sara Ek, email: sara@acme.example}
  - id: dach
    name: DACH
    manager: {id: jonas, name: Jonas Weber, email: jonas@acme.example}
    sellers:
      - {id: erik, name: Erik Lund, email: erik@acme.example}
"""


def sara(extra: str) -> tuple[str, str]:
    return SARA, SARA[:-1] + ", " + extra + "}"


# (id, [(old, new), ...], exact problems)
CASES: list[tuple[str, list[tuple[str, str]], list[str]]] = [
    (
        "unknown time zone, with a suggestion",
        [("timezone: Europe/Stockholm", "timezone: Europe/Stokholm")],
        [
            "coachpass.yaml:4: organisation.timezone: unknown time zone 'Europe/Stokholm'; "
            "did you mean 'Europe/Stockholm'?"
        ],
    ),
    (
        "unknown time zone of a seller",
        [sara("timezone: Mars/Olympus_Mons")],
        ["coachpass.yaml:16: teams[0].sellers[1].timezone: unknown time zone 'Mars/Olympus_Mons'"],
    ),
    (
        "unknown country",
        [("country: SE", "country: XX")],
        [
            "coachpass.yaml:5: organisation.country: unknown country 'XX': use an ISO 3166 "
            "alpha-2 code with public holidays in the holidays package (e.g. SE, NO, DE, US)"
        ],
    ),
    (
        "country in lower case",
        [sara("country: de")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].country: unknown country 'de'; "
            "did you mean 'DE'?"
        ],
    ),
    (
        "duplicate email",
        [("email: sara@acme.example", "email: Erik@acme.example")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].email: duplicate email 'Erik@acme.example' "
            "(also 'erik', teams[0].sellers[0])"
        ],
    ),
    (
        "a seller in two teams",
        [(SECOND_TEAM.splitlines()[0] + "\n", SECOND_TEAM)],
        [
            "coachpass.yaml:21: teams[1].sellers[0].id: seller 'erik' is in two teams: "
            "'nordics' (teams[0].sellers[0]) and 'dach'"
        ],
    ),
    (
        "a manager leading two teams",
        [
            (
                SECOND_TEAM.splitlines()[0] + "\n",
                SECOND_TEAM.replace(
                    "id: jonas, name: Jonas Weber, email: jonas@",
                    "id: anna, name: Anna Berg, email: anna@",
                ).replace(
                    "id: erik, name: Erik Lund, email: erik@",
                    "id: nils, name: Nils Ek, email: nils@",
                ),
            )
        ],
        [
            "coachpass.yaml:19: teams[1].manager.id: manager 'anna' already leads team "
            "'nordics' (teams[0].manager): a manager leads one team; merge the two teams"
        ],
    ),
    (
        "duplicate person id in one team",
        [("id: sara, name: Sara Ek", "id: erik, name: Sara Ek")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].id: person id 'erik' is used twice (also "
            "teams[0].sellers[0])"
        ],
    ),
    (
        "a team without manager",
        [("    manager: {id: anna, name: Anna Berg, email: anna@acme.example}\n", "")],
        ["coachpass.yaml:11: teams[0].manager: team 'nordics' has no manager: add one"],
    ),
    (
        "a session longer than the working day",
        [('end: "17:00"', 'end: "08:30"')],
        [
            "coachpass.yaml:8: policy.session_minutes: a session of 45 minutes is longer than "
            "the working day 08:00-08:30 (30 minutes)"
        ],
    ),
    (
        "a person's working day shorter than a session",
        [sara('working_hours: {start: "09:00", end: "09:30"}')],
        [
            "coachpass.yaml:16: teams[0].sellers[1].working_hours: the working day 09:00-09:30 "
            "(30 minutes) is shorter than a session (45 minutes)"
        ],
    ),
    (
        "working hours ending before they start",
        [('end: "17:00"', 'end: "07:00"')],
        ["coachpass.yaml:9: policy.working_hours: end 07:00 is not after start 08:00"],
    ),
    (
        "a secret written inline in a connector",
        [
            (
                "  local: {path: calendars}\n",
                "  local: {path: calendars}\n"
                "  outlook: {tenant_id: t1, client_id: c1, client_secret: s3cr3t-value}\n",
            )
        ],
        [
            "coachpass.yaml:19: connectors.outlook.client_secret: secret written inline: remove "
            "it and use client_secret_env (an environment variable) or client_secret_file "
            "(a file) instead"
        ],
    ),
    (
        "an SMTP password written inline",
        [
            (
                "schedule:\n",
                "mail:\n  smtp: {host: smtp.acme.example, password: hunter2}\nschedule:\n",
            )
        ],
        [
            "coachpass.yaml:20: mail.smtp.password: secret written inline: remove it and use "
            "password_env (an environment variable) or password_file (a file) instead"
        ],
    ),
    (
        "a cron expression with four fields",
        [('report: "0 8 1 * *"', 'report: "0 8 1 *"')],
        [
            "coachpass.yaml:20: schedule.report: cron expression '0 8 1 *' does not parse: "
            "Wrong number of fields; got 4, expected 5 (5 fields: minute hour day month weekday)"
        ],
    ),
    (
        "a cron expression with an hour out of range",
        [('report: "0 8 1 * *"', 'report: "0 25 1 * *"')],
        [
            "coachpass.yaml:20: schedule.report: cron expression '0 25 1 * *' does not parse: "
            "Error validating expression '25': the last value (25) is higher than the maximum "
            "value (23) (5 fields: minute hour day month weekday)"
        ],
    ),
    (
        "an unknown key, with a suggestion",
        [("  language: sv", "  langauge: sv")],
        [
            "coachpass.yaml:6: organisation.langauge: unknown key 'langauge'; "
            "did you mean 'language'?"
        ],
    ),
    (
        "an unknown section",
        [("teams:", "team:")],
        ["coachpass.yaml:10: team: unknown key 'team'; did you mean 'teams'?"],
    ),
    (
        "an unknown connector under connectors",
        [("  local: {path: calendars}\n", "  local: {path: calendars}\n  goggle: {}\n")],
        [
            "coachpass.yaml:19: connectors.goggle: unknown connector 'goggle'; "
            "did you mean 'google'?"
        ],
    ),
    (
        "an unknown connector on a person",
        [sara("connector: gmail")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].connector: unknown connector 'gmail': "
            "use one of caldav, google, local, outlook"
        ],
    ),
    (
        "a person's connector not configured",
        [sara("connector: google")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].connector: connector 'google' is not "
            "configured under connectors:"
        ],
    ),
    (
        "a team's connector not configured (reported once, on the team)",
        [("    name: Nordics\n", "    name: Nordics\n    connector: outlook\n")],
        [
            "coachpass.yaml:13: teams[0].connector: connector 'outlook' is not configured "
            "under connectors:"
        ],
    ),
    (
        "the default connector not configured",
        [("connectors:\n  local: {path: calendars}\n", "")],
        [
            "coachpass.yaml:1: defaults.connector: connector 'local' is not configured "
            "under connectors:"
        ],
    ),
    (
        "a language that is neither sv nor en",
        [("language: sv", "language: de")],
        ["coachpass.yaml:6: organisation.language: unsupported language 'de': use sv or en"],
    ),
    (
        "a weekday name",
        [('end: "17:00"}', 'end: "17:00", weekdays: [mon, tsu]}')],
        [
            "coachpass.yaml:9: policy.working_hours.weekdays[1]: unknown weekday 'tsu': use "
            "mon, tue, wed, thu, fri, sat, sun"
        ],
    ),
    (
        "a time that is not HH:MM",
        [('start: "08:00"', 'start: "8.00"')],
        [
            "coachpass.yaml:9: policy.working_hours.start: '8.00' is not a time of day as "
            "HH:MM (24-hour, e.g. '08:30')"
        ],
    ),
    (
        "latest day before earliest day",
        [
            (
                "  session_minutes: 45\n",
                "  session_minutes: 45\n  earliest_day: 20\n  latest_day: 10\n",
            )
        ],
        ["coachpass.yaml:10: policy.latest_day: latest_day 10 is before earliest_day 20"],
    ),
    (
        "a key written twice",
        [("  session_minutes: 45\n", "  session_minutes: 45\n  session_minutes: 30\n")],
        [
            "coachpass.yaml:9: policy.session_minutes: duplicate key 'session_minutes': it is "
            "written twice in this mapping"
        ],
    ),
    (
        "a number that is not a number",
        [("session_minutes: 45", "session_minutes: lots")],
        [
            "coachpass.yaml:8: policy.session_minutes: input should be a valid integer, unable "
            "to parse string as an integer (got 'lots')"
        ],
    ),
    (
        "a required field missing",
        [("  name: Acme\n", "")],
        ["coachpass.yaml:1: organisation.name: required field is missing"],
    ),
    (
        "an e-mail address without @",
        [("email: sara@acme.example", "email: sara.acme.example")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].email: 'sara.acme.example' is not an e-mail "
            "address: an email address must have an @-sign"
        ],
    ),
    (
        "a guideline link over plain http",
        [("  language: sv\n", "  language: sv\n  guideline_url: http://intranet/guide\n")],
        [
            "coachpass.yaml:7: organisation.guideline_url: 'http://intranet/guide' is not an "
            "https:// URL"
        ],
    ),
    (
        "a video link with an unknown placeholder",
        [
            (
                "  session_minutes: 45\n",
                "  session_minutes: 45\n  video_url_template: https://v/{id}\n",
            )
        ],
        [
            "coachpass.yaml:9: policy.video_url_template: 'https://v/{id}' has a bad "
            "placeholder ('id'); only {key} may be used"
        ],
    ),
    (
        "an unknown holiday subdivision",
        [sara("country: DE, subdivision: BAY")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].subdivision: unknown subdivision 'BAY' of DE; "
            "did you mean 'BY'?"
        ],
    ),
    (
        "a store URL with a port that is not a number",
        [("schedule:\n", "store: {url: 'postgresql+psycopg://cp@db:54x/cp'}\nschedule:\n")],
        ["coachpass.yaml:19: store.url: not a database URL (e.g. sqlite:///coachpass.db)"],
    ),
    (
        "a database password in the store URL",
        [("schedule:\n", "store: {url: 'postgresql+psycopg://cp:pw@db/cp'}\nschedule:\n")],
        [
            "coachpass.yaml:19: store.url: the URL holds a password: leave it out and use "
            "PGPASSWORD or ~/.pgpass, or put the whole URL in an environment variable named "
            "by store.url_env"
        ],
    ),
    # Issue 10: hostile input is refused where it enters.
    (
        "a line break in a name (header injection)",
        [("name: Sara Ek", 'name: "Sara Ek\\nX-Injected: yes"')],
        [
            "coachpass.yaml:16: teams[0].sellers[1].name: contains a control character "
            "(U+000A); write it as one line of plain text"
        ],
    ),
    (
        "an escape sequence in a team name",
        [("    name: Nordics\n", '    name: "Nordics\\e[2J"\n')],
        [
            "coachpass.yaml:12: teams[0].name: contains a control character (U+001B); write "
            "it as one line of plain text"
        ],
    ),
    (
        "a NUL written as an escape in the organisation name",
        [("  name: Acme\n", '  name: "Ac\\0me"\n')],
        [
            "coachpass.yaml:3: organisation.name: contains a control character (U+0000); "
            "write it as one line of plain text"
        ],
    ),
    (
        "a line break in the sender (a Bcc header smuggled in)",
        [
            (
                "schedule:\n",
                'mail: {from: "Coachpass <cp@acme.example>\\nBcc: x@evil.example"}\nschedule:\n',
            )
        ],
        [
            "coachpass.yaml:19: mail.from: contains a control character (U+000A); write it as "
            "one line of plain text"
        ],
    ),
    (
        "a name of spaces only",
        [("name: Sara Ek", "name: '   '")],
        ["coachpass.yaml:16: teams[0].sellers[1].name: empty: write the name"],
    ),
    (
        "an e-mail that climbs out of the calendar folder",
        [("email: sara@acme.example", "email: ../../../../outside/evil@acme.example")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].email: '../../../../outside/evil@acme."
            "example' is not an e-mail address: an email address cannot start with a period"
        ],
    ),
    (
        "an e-mail that is an absolute path (valid RFC 5322, not a safe file name)",
        [("email: sara@acme.example", "email: /tmp/evil@acme.example")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].email: '/tmp/evil@acme.example' is not an "
            "e-mail address: '/' and '\\' are not allowed"
        ],
    ),
    (
        "an e-mail with a display name",
        [("email: sara@acme.example", "email: 'Sara <sara@acme.example>'")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].email: 'Sara <sara@acme.example>' is not "
            "an e-mail address: a display name and angle brackets around the email address "
            "are not permitted here"
        ],
    ),
    (
        "an e-mail with a non-ASCII domain",
        [("email: sara@acme.example", "email: sara@acmé.example")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].email: 'sara@acmé.example' is not an "
            "e-mail address: write the domain in its ASCII (xn--) form"
        ],
    ),
    (
        "a leader's e-mail without a domain",
        [("schedule:\n", "leadership: [{name: Ceo, email: ceo@localhost}]\nschedule:\n")],
        [
            "coachpass.yaml:19: leadership[0].email: 'ceo@localhost' is not an e-mail "
            "address: the part after the @-sign is not valid. It should have a period"
        ],
    ),
    (
        "a local calendar given as an absolute path",
        [sara("calendar: /etc/passwd")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].calendar: '/etc/passwd' is an absolute "
            "path: give the calendar relative to the local connector's folder "
            "(connectors.local.path)"
        ],
    ),
    (
        "a local calendar that leaves the folder",
        [sara("calendar: shared/../../secrets.ics")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].calendar: 'shared/../../secrets.ics' "
            "leaves the local connector's folder ('..'): give a path inside it"
        ],
    ),
    (
        "a local calendar in the home folder",
        [sara("calendar: ~/cal.ics")],
        [
            "coachpass.yaml:16: teams[0].sellers[1].calendar: '~/cal.ics' is an absolute "
            "path: give the calendar relative to the local connector's folder "
            "(connectors.local.path)"
        ],
    ),
    (
        "a weekly cap below one session",
        [
            (
                "  session_minutes: 45\n",
                "  session_minutes: 45\n  max_minutes_per_manager_week: 30\n",
            )
        ],
        [
            "coachpass.yaml:9: policy.max_minutes_per_manager_week: 30 is below one session "
            "(session_minutes 45): no session could ever be booked"
        ],
    ),
    (
        "leadership written with nobody under it",
        [("schedule:\n", "leadership: []\nschedule:\n")],
        [
            "coachpass.yaml:19: leadership: no recipients: list who gets the monthly report "
            "(- {name: ..., email: ...}), or remove the key"
        ],
    ),
    (
        "an SMTP time-out of zero",
        [("schedule:\n", "mail:\n  smtp: {host: smtp.acme.example, timeout: 0}\nschedule:\n")],
        ["coachpass.yaml:20: mail.smtp.timeout: input should be greater than 0 (got 0)"],
    ),
    (
        "several problems at once, in line order",
        [
            ('report: "0 8 1 * *"', 'report: "every day"'),
            ("timezone: Europe/Stockholm", "timezone: Europe/Stokholm"),
            ("email: sara@acme.example", "email: erik@acme.example"),
        ],
        [
            "coachpass.yaml:4: organisation.timezone: unknown time zone 'Europe/Stokholm'; "
            "did you mean 'Europe/Stockholm'?",
            "coachpass.yaml:16: teams[0].sellers[1].email: duplicate email 'erik@acme.example' "
            "(also 'erik', teams[0].sellers[0])",
            "coachpass.yaml:20: schedule.report: cron expression 'every day' does not parse: "
            "Wrong number of fields; got 2, expected 5 (5 fields: minute hour day month weekday)",
        ],
    ),
]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Messages name the file as it was given; a relative name keeps them exact.
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(folder: Path, text: str, name: str = "coachpass.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return Path(name)


def test_base_config_is_valid(in_tmp: Path) -> None:
    assert validate_file(write(in_tmp, BASE)) == []


def calendars(folder: Path) -> None:
    """The BASE people's calendars, so a command that got past the config would run."""
    (folder / "calendars").mkdir()
    for pid in ("anna", "erik", "sara"):
        (folder / "calendars" / f"{pid}.ics").write_text(
            EMPTY_ICS.format(email=f"{pid}@acme.example"), encoding="utf-8"
        )


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder` with its bytes and mode: store, calendars, outbox."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The CLI as an admin runs it, through its one error handler."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    _out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize(("edits", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_config_gives_exact_problems(
    in_tmp: Path,
    edits: list[tuple[str, str]],
    expected: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = BASE
    for old, new in edits:
        assert old in text, f"test edit does not apply: {old!r}"
        text = text.replace(old, new, 1)
    path = write(in_tmp, text)
    assert validate_file(path) == expected
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == expected
    # `book` refuses with the same lines and exit 2, and writes nothing: no store,
    # no outbox, the calendars as they were.
    calendars(in_tmp)
    before = snapshot(in_tmp)
    code, err = run_cli(["--config", str(path), "book", "--month", "2027-01"], capsys)
    assert (code, err.splitlines()) == (2, expected)
    assert snapshot(in_tmp) == before


def test_secret_values_never_appear_in_problems(in_tmp: Path) -> None:
    text = (
        BASE.replace(
            "  local: {path: calendars}\n",
            "  local: {path: calendars, api_key: AKIA-very-secret}\n"
            "  google: {service_account_file: sa.json, private_key: '-----BEGIN KEY-----'}\n",
        )
        + "mail: {smtp: {host: h, password: hunter2}}\n"
    )
    problems = validate_file(write(in_tmp, text))
    assert len(problems) == 3
    joined = "\n".join(problems)
    for secret in ("AKIA-very-secret", "BEGIN KEY", "hunter2"):
        assert secret not in joined


def test_secret_given_by_env_or_file_is_accepted(in_tmp: Path) -> None:
    text = (
        BASE.replace(
            "  local: {path: calendars}\n",
            "  local: {path: calendars}\n"
            "  outlook: {tenant_id: t, client_id: c, client_secret_env: COACHPASS_GRAPH_SECRET}\n",
        )
        + "mail: {smtp: {host: h, password_file: /run/secrets/smtp}}\n"
    )
    assert validate_file(write(in_tmp, text)) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "coachpass.yaml: the file is empty; see config/coachpass.example.yaml"),
        (
            "# only a comment\n",
            "coachpass.yaml: the file is empty; see config/coachpass.example.yaml",
        ),
        (
            "organisation:\n  id: acme\n  name: [unclosed\n",
            "coachpass.yaml:4:1: YAML syntax error: expected ',' or ']', but got '<stream end>'",
        ),
        (
            "organisation:\n  id: acme\n\tname: tab\n",
            "coachpass.yaml:3:1: YAML syntax error: "
            "found character '\\t' that cannot start any token",
        ),
    ],
    ids=["empty", "comment only", "unclosed list", "tab indent"],
)
def test_unreadable_yaml_is_a_user_error(in_tmp: Path, text: str, message: str) -> None:
    path = write(in_tmp, text)
    with pytest.raises(UserError) as caught:
        validate_file(path)
    assert str(caught.value) == message
    assert not isinstance(caught.value, ConfigError)


def test_missing_file_is_a_user_error(in_tmp: Path) -> None:
    with pytest.raises(UserError, match=r"^nope.yaml: no such config file"):
        load_settings(Path("nope.yaml"))


def test_a_list_instead_of_sections(in_tmp: Path) -> None:
    assert validate_file(write(in_tmp, "- a\n- b\n")) == [
        "coachpass.yaml:1: the file must be a mapping of sections (organisation:, policy:, "
        "teams:, ...)"
    ]


def test_norway_and_unquoted_times_mean_what_they_say(in_tmp: Path) -> None:
    text = BASE.replace('{start: "08:00", end: "17:00"}', "{start: 8:00, end: 17:30}").replace(
        SARA, SARA[:-1] + ", country: NO, timezone: Europe/Oslo}"
    )
    settings = load_settings(write(in_tmp, text))
    hours = settings.organisation.policy.working_hours
    assert (hours.start, hours.end) == (time(8, 0), time(17, 30))
    assert settings.organisation.team("nordics").sellers[1].country == "NO"


def test_example_config_loads_and_resolves_defaults() -> None:
    settings = load_settings(EXAMPLE)
    org = settings.organisation
    assert (org.id, org.language, org.timezone) == ("acme", "sv", "Europe/Stockholm")
    base = EXAMPLE.parent.resolve()
    assert settings.base_dir == base
    assert settings.store_url == f"sqlite:///{base / 'coachpass.db'}"
    assert settings.mail.outbox == settings.outbox == base / "outbox"
    assert settings.mail.smtp_host is None
    assert settings.schedule.book_next_month == "0 6 20 * *"
    assert settings.connectors["local"]["path"] == "calendars"  # left as written
    nordics = org.team("nordics")
    erik = nordics.sellers[0]
    assert (erik.timezone, erik.country, erik.connector) == ("Europe/Stockholm", "SE", "local")
    assert erik.calendar_id == "erik.ics"
    mia = next(s for s in nordics.sellers if s.id == "mia")
    assert mia.working_hours is not None
    assert (mia.working_hours.start, mia.working_hours.end) == (time(9), time(15))
    assert mia.working_hours.weekdays == org.policy.working_hours.weekdays
    assert org.policy.working_hours.start == time(8)
    assert len(org.leadership) == 2
    assert settings.team_of["lena"] == "dach"


def test_connector_and_calendar_resolution(in_tmp: Path) -> None:
    """Person > team > defaults; calendar id is the e-mail for providers."""
    text = (
        BASE.replace("    name: Nordics\n", "    name: Nordics\n    connector: google\n")
        .replace(SARA, SARA[:-1] + ", connector: local, calendar: shared/sara.ics}")
        .replace(
            "  local: {path: calendars}\n",
            "  local: {path: calendars}\n  google: {service_account_file: sa.json}\n",
        )
    )
    team = load_settings(write(in_tmp, text)).organisation.team("nordics")
    assert (team.manager.connector, team.manager.calendar_id) == ("google", "anna@acme.example")
    erik, sara_ = team.sellers
    assert (erik.connector, erik.calendar_id) == ("google", "erik@acme.example")
    assert (sara_.connector, sara_.calendar_id) == ("local", "shared/sara.ics")


def test_store_url_relative_to_config_folder(tmp_path: Path) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    (sub / "c.yaml").write_text(BASE + "store: {url: 'sqlite:///data/cp.db'}\n")
    assert load_settings(sub / "c.yaml").store_url == f"sqlite:///{sub.resolve() / 'data/cp.db'}"


def test_people_csv_joins_the_teams_and_its_problems_name_the_csv(in_tmp: Path) -> None:
    (in_tmp / "people.csv").write_text(
        "team,id,name,email,timezone,role\n"
        "nordics,nils,Nils Ek,nils@acme.example,,\n"
        "benelux,sofie,Sofie J,sofie@acme.example,Europe/Brussels,manager\n"
        "benelux,daan,Daan V,daan@acme.example,Europe/Amsterdam,seller\n"
    )
    settings = load_settings(write(in_tmp, BASE + "people_csv: people.csv\n"))
    org = settings.organisation
    assert [s.id for s in org.team("nordics").sellers] == ["erik", "sara", "nils"]
    assert org.team("benelux").manager.id == "sofie"
    assert [s.timezone for s in org.team("benelux").sellers] == ["Europe/Amsterdam"]

    (in_tmp / "people.csv").write_text(
        "team,id,name,email,timezone,role\n"
        "nordics,nils,Nils Ek,nils@acme.example,Europe/Stokholm,\n"
        "nordics,erik,Erik Again,erik2@acme.example,,\n"
        "dach,otto,Otto,otto@acme.example,,\n"
        "nordics,bo,Bo Boss,bo@acme.example,,manager\n"
    )
    assert validate_file(Path("coachpass.yaml")) == [
        "people.csv:2: timezone: unknown time zone 'Europe/Stokholm'; did you mean "
        "'Europe/Stockholm'?",
        "people.csv:3: id: person id 'erik' is used twice (also teams[0].sellers[0])",
        "people.csv:4: team: team 'dach' is not in the config and has no manager row",
        "people.csv:5: role: team 'nordics' already has manager 'anna' (teams[0].manager)",
    ]


def test_empty_sections_as_written_by_hand(in_tmp: Path) -> None:
    text = (
        "organisation: {id: acme, name: Acme, timezone: Europe/Stockholm, country: SE}\n"
        "teams:\n"
        "  - id: t\n"
        "    name: T\n"
        "    manager: {id: anna, name: Anna, email: anna@acme.example}\n"
        "    sellers:\n"
        "connectors:\n"
        "  local:\n"
    )
    settings = load_settings(write(in_tmp, text))
    assert settings.organisation.team("t").sellers == ()
    assert settings.connectors == {"local": {}}
    assert settings.organisation.language == "en"


def test_missing_people_csv(in_tmp: Path) -> None:
    path = write(in_tmp, BASE + "people_csv: staff.csv\n")
    assert validate_file(path) == [
        f"coachpass.yaml:21: people_csv: no such file: {in_tmp.resolve() / 'staff.csv'}"
    ]


def test_committed_schema_is_current() -> None:
    committed = json.loads((REPO / "config" / "coachpass.schema.json").read_text())
    assert committed == json_schema(), (
        "run: coachpass config schema -o config/coachpass.schema.json"
    )


def test_schema_describes_every_section_of_the_example() -> None:
    schema = json_schema()
    example = yaml.load(EXAMPLE.read_text(), Loader=ConfigLoader)
    assert set(example) <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["organisation"]
    assert "from" in schema["$defs"]["MailConfig"]["properties"]


def test_line_map_points_at_keys_and_items() -> None:
    loaded = parse_yaml(BASE, Path("x.yaml"))
    assert loaded.line_of(("teams", 0, "sellers", 1, "email")) == 16
    assert loaded.line_of(("policy", "working_hours", "start")) == 9
    # A field that is not written is reported where its mapping is.
    assert loaded.line_of(("teams", 0, "sellers", 1, "nothing", "deeper")) == 16


scalars = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "NO",
            "no",
            "yes",
            "on",
            "off",
            "8:00",
            "17:30",
            "08:00",
            "1:02:03",
            "0 6 20 * *",
            "*/30 * * * *",
            "true",
            "null",
            "~",
            "1e3",
            "0x1f",
            "-",
        ]
    ),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), values, min_size=1, max_size=5))
def test_writing_back_keeps_every_value(data: dict[str, object]) -> None:
    """What the editing commands write reads back as the same data."""
    assert yaml.load(dump_yaml(data), Loader=ConfigLoader) == data


def test_smtp_timeout_is_accepted_and_reaches_the_mailer(in_tmp: Path) -> None:
    """Documented, once rejected by the schema; a secret file readable by its owner
    only is accepted (the world-readable one is refused in test_hostile_input)."""
    from scheduler.runtime import Runtime

    (in_tmp / "smtp.pw").write_text("hunter2\n")
    (in_tmp / "smtp.pw").chmod(0o600)
    text = BASE + (
        "mail:\n  smtp: {host: smtp.acme.example, username: cp, password_file: smtp.pw, "
        "timeout: 7.5}\n"
    )
    settings = load_settings(write(in_tmp, text))
    assert settings.mail.smtp_timeout == 7.5
    mailer = Runtime(settings, None).mailer()  # type: ignore[arg-type]
    assert mailer.timeout == 7.5  # type: ignore[union-attr]


def test_names_are_kept_on_one_line_with_single_spaces(in_tmp: Path) -> None:
    text = BASE.replace("name: Sara Ek", "name: '  Sara   Ek '")
    team = load_settings(write(in_tmp, text)).organisation.team("nordics")
    assert team.sellers[1].name == "Sara Ek"


def test_anchors_within_the_budget_still_work_and_are_not_expanded_for_lines() -> None:
    """Shared working hours by anchor are fine; the line map walks each node once, so
    a value reached through an alias is reported where the alias is used."""
    text = BASE.replace(
        '  working_hours: {start: "08:00", end: "17:00"}',
        '  working_hours: &hours {start: "08:00", end: "17:00"}',
    ).replace(SARA, SARA[:-1] + ", working_hours: *hours}")
    loaded = parse_yaml(text, Path("x.yaml"))
    assert loaded.data["teams"][0]["sellers"][1]["working_hours"] == {
        "start": "08:00",
        "end": "17:00",
    }
    assert loaded.line_of(("teams", 0, "sellers", 1, "working_hours", "start")) == 16
    assert loaded.line_of(("policy", "working_hours", "start")) == 9


def test_a_csv_row_cannot_point_the_local_connector_outside_its_folder(in_tmp: Path) -> None:
    (in_tmp / "people.csv").write_text(
        "team,id,name,email,calendar\n"
        "nordics,nils,Nils Ek,nils@acme.example,/etc/passwd\n"
        "nordics,ola,Ola Ek,ola@acme.example,../outside.ics\n"
        "nordics,pia,Pia Ek,pia@acme.example,team/pia.ics\n"
    )
    assert validate_file(write(in_tmp, BASE + "people_csv: people.csv\n")) == [
        "people.csv:2: calendar: '/etc/passwd' is an absolute path: give the calendar "
        "relative to the local connector's folder (connectors.local.path)",
        "people.csv:3: calendar: '../outside.ics' leaves the local connector's folder ('..'): "
        "give a path inside it",
    ]
