"""Hostile input is refused where it enters (issue 10), through the real CLI.

The config problems that validation reports line by line are in `CASES` of
test_settings.py (with `book` run on each). This table holds the rest: files the
YAML reader itself refuses (control characters, Latin-1, alias bombs), CLI options
(`--month`, names and e-mails given to `people add` / `teams add`, notes given to
`sessions mark`), and the store's folder. Each case gives the exact lines printed,
the exit code, and proves that nothing was written (store, calendars, outbox and the
config itself are compared byte for byte).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.settings.test_settings import BASE, calendars, run_cli, snapshot

MONTH_HINT = "is not a month: write YYYY-MM between 2000-01 and 2100-12, e.g. 2027-01"
CONTROL = "contains a control character"


def alias_bomb(levels: int) -> str:
    """`a0` is nine values, each `aN` nine `aN-1`: 9**levels values from ~30 lines."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    id: str
    config: str | bytes  # the file's text, or its raw bytes
    args: list[str]  # after `--config coachpass.yaml`
    expected: list[str]  # stderr lines; {tmp} is the test's folder
    code: int = 2
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (text, mode)


def usage(command: str, option: str, message: str) -> list[str]:
    """What click prints for a refused option value."""
    arguments = {"teams add": " ID", "sessions mark": " SESSION", "sessions cancel": " SESSION"}
    return [
        f"Usage: coachpass {command} [OPTIONS]{arguments.get(command, '')}",
        f"Try 'coachpass {command} --help' for help.",
        "",
        f"Error: Invalid value for '{option}': {message}",
    ]


PEOPLE_ADD = ["people", "add", "--team", "nordics", "--id", "eve"]
TEAMS_ADD = ["teams", "add", "dach", "--manager-id", "jonas", "--manager-name", "Jonas"]

HOSTILE: list[Case] = [
    Case(
        "a NUL byte in the file",
        BASE.replace("Sara Ek", "Sara\x00Ek"),
        ["book", "--month", "2027-01"],
        [
            "error: coachpass.yaml:16:30: character U+0000 is not allowed in YAML "
            "(a control character): remove it"
        ],
    ),
    Case(
        "an ESC byte in a comment",
        "# \x1b[2J\n" + BASE,
        ["book", "--month", "2027-01"],
        [
            "error: coachpass.yaml:1:3: character U+001B is not allowed in YAML "
            "(a control character): remove it"
        ],
    ),
    Case(
        "a Latin-1 file",
        BASE.replace("Sara Ek", "Sära Ek").encode("latin-1"),
        ["book", "--month", "2027-01"],
        [
            "error: coachpass.yaml:16:27: not UTF-8 text (byte 0xe4); save the file as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)"
        ],
    ),
    Case(
        "a UTF-16 file",
        BASE.encode("utf-16"),
        ["book", "--month", "2027-01"],
        [
            "error: coachpass.yaml:1:1: not UTF-8 text (byte 0xff); save the file as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)"
        ],
    ),
    Case(
        "a tab as indentation",
        BASE.replace("  id: acme", "\tid: acme"),
        ["book", "--month", "2027-01"],
        [
            "error: coachpass.yaml:2:1: YAML syntax error: found character '\\t' that cannot "
            "start any token"
        ],
    ),
    Case(
        "an unclosed flow mapping",
        BASE.replace("sara@acme.example}", "sara@acme.example"),
        ["book", "--month", "2027-01"],
        ["error: coachpass.yaml:17:11: YAML syntax error: expected ',' or '}}', but got ':'"],
    ),
    Case(
        "an alias bomb (9 levels of 9)",
        BASE + alias_bomb(9),
        ["book", "--month", "2027-01"],
        [
            "error: coachpass.yaml:22:10: YAML aliases (*name) expand this file to "
            "490,329,127 values from 91 written (at most 10,000 more are allowed); write "
            "the values out instead"
        ],
    ),
    Case(
        "an alias inside its own anchor",
        BASE + "loop: &loop [*loop]\n",
        ["book", "--month", "2027-01"],
        ["error: coachpass.yaml:21:14: YAML alias refers to a value that contains it"],
    ),
    Case(
        "brackets nested 1,000 deep (PyYAML's scanner is quadratic in them)",
        BASE + "deep: " + "[" * 1000 + "]" * 1000 + "\n",
        ["book", "--month", "2027-01"],
        ["error: coachpass.yaml:21:57: YAML syntax error: [ ] and {{ }} nested more than 50 deep"],
    ),
    *(
        Case(
            f"--month {month}",
            BASE,
            ["plan", "--month", month],
            usage("plan", "--month", f"{month!r} {MONTH_HINT}"),
        )
        for month in ("0000-01", "9999-12", "27-01", "2027-13", "2027-1", "2027-01-05")
    ),
    Case(
        "an SQLite store in a folder that cannot be created",
        BASE + "store: {url: 'sqlite:///blocker/sub/cp.db'}\n",
        ["sessions", "list"],
        [
            "error: cannot create the folder {tmp}/blocker/sub of the SQLite store: "
            "Not a directory; check store.url in the config"
        ],
        files={"blocker": ("a file, not a folder\n", 0o644)},
    ),
    Case(
        "a world-readable SMTP password file",
        BASE + "mail: {smtp: {host: smtp.acme.example, password_file: smtp.pw}}\n",
        ["book", "--month", "2027-01"],
        [
            "coachpass.yaml:21: mail.smtp.password_file: {tmp}/smtp.pw is readable by every "
            "user of this machine (mode 0644): run chmod 600 {tmp}/smtp.pw"
        ],
        files={"smtp.pw": ("hunter2\n", 0o644)},
    ),
    Case(
        "a world-readable service-account key",
        BASE.replace(
            "  local: {path: calendars}\n",
            "  local: {path: calendars}\n  google: {service_account_file: keys/sa.json}\n",
        ),
        ["book", "--month", "2027-01"],
        [
            "coachpass.yaml:19: connectors.google.service_account_file: {tmp}/keys/sa.json is "
            "readable by every user of this machine (mode 0604): run chmod 600 "
            "{tmp}/keys/sa.json"
        ],
        files={"keys/sa.json": ("{}\n", 0o604)},
    ),
    Case(
        "people add: a line break in the name",
        BASE,
        [*PEOPLE_ADD, "--name", "Eve\nX-Injected: yes", "--email", "eve@acme.example"],
        usage("people add", "--name", f"{CONTROL} (U+000A) (write it on one line)"),
    ),
    Case(
        "people add: an e-mail that climbs out of the calendar folder",
        BASE,
        [*PEOPLE_ADD, "--name", "Eve", "--email", "../../../../outside/evil@acme.example"],
        usage(
            "people add",
            "--email",
            "'../../../../outside/evil@acme.example' is not an e-mail address: an email "
            "address cannot start with a period",
        ),
    ),
    Case(
        "teams add: an escape sequence in the team name",
        BASE,
        [*TEAMS_ADD, "--name", "DACH\x1b[31m", "--manager-email", "jonas@acme.example"],
        usage("teams add", "--name", f"{CONTROL} (U+001B) (write it on one line)"),
    ),
    Case(
        "teams add: a manager e-mail with a path",
        BASE,
        [*TEAMS_ADD, "--name", "DACH", "--manager-email", "/etc/jonas@acme.example"],
        usage(
            "teams add",
            "--manager-email",
            "'/etc/jonas@acme.example' is not an e-mail address: '/' and '\\' are not allowed",
        ),
    ),
    Case(
        "sessions mark: a terminal escape in the note",
        BASE,
        ["sessions", "mark", "erik", "--held", "--note", "fine\x1b]0;pwned\x07"],
        usage("sessions mark", "--note", f"{CONTROL} (U+001B)"),
    ),
    Case(
        "sessions cancel: a NUL in the reason told to attendees",
        BASE,
        ["sessions", "cancel", "erik", "--reason", "moved\x00"],
        usage("sessions cancel", "--reason", f"{CONTROL} (U+0000)"),
    ),
    Case(
        "sessions mark: a bell in the follow-ups",
        BASE,
        ["sessions", "mark", "erik", "--held", "--followups", "call back\x07"],
        usage("sessions mark", "--followups", f"{CONTROL} (U+0007)"),
    ),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c.id for c in HOSTILE])
def test_hostile_input_is_refused_where_it_enters(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: Case,
) -> None:
    monkeypatch.chdir(tmp_path)  # messages name the config as given
    monkeypatch.setenv("COACHPASS_NOW", "2026-12-01T08:00:00+00:00")
    config = tmp_path / "coachpass.yaml"
    if isinstance(case.config, bytes):
        config.write_bytes(case.config)
    else:
        config.write_text(case.config, encoding="utf-8")
    calendars(tmp_path)
    for name, (text, mode) in case.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(mode)
    before = snapshot(tmp_path)
    started = time.perf_counter()
    code, err = run_cli(["--config", "coachpass.yaml", *case.args], capsys)
    elapsed = time.perf_counter() - started
    tmp = str(tmp_path.resolve())
    assert (code, err.splitlines()) == (case.code, [e.format(tmp=tmp) for e in case.expected])
    assert snapshot(tmp_path) == before, "nothing may be written"
    # Fails fast: an alias bomb used to take 16 s and 1.1 GB. A generous bound that
    # only a run expanding the aliases would break (not a timing test of its speed).
    assert elapsed < 30


def test_the_snapshot_sees_what_a_run_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control for the table: the same set-up with a valid config does write
    (the store), so "unchanged" above is a real check."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "coachpass.yaml").write_text(BASE, encoding="utf-8")
    calendars(tmp_path)
    before = snapshot(tmp_path)
    code, _err = run_cli(["--config", "coachpass.yaml", "sessions", "list"], capsys)
    assert code == 0
    assert set(snapshot(tmp_path)) - set(before) >= {"coachpass.db"}
