"""People CSV: every bad row is named by file, line and column; exports read back."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from scheduler.errors import ConfigError, UserError
from scheduler.settings.people_csv import (
    COLUMNS,
    duplicate_problems,
    load_people_csv,
    parse_people_csv,
    read_people_csv,
    write_people_csv,
)


def messages(text: str, default_team: str | None = None) -> list[str]:
    _rows, problems = parse_people_csv(text, "p.csv", default_team=default_team)
    return [str(p) for p in problems]


def test_good_rows_keep_only_filled_cells() -> None:
    rows, problems = parse_people_csv(
        "team,id,name,email,timezone,country,connector,calendar,role\n"
        "nordics,erik,Erik Lund,erik@acme.example,,,,,\n"
        "nordics,anna,Anna Berg,anna@acme.example,Europe/Oslo,NO,google,,manager\n",
        "p.csv",
    )
    assert problems == []
    assert [(r.line, r.team, r.role) for r in rows] == [
        (2, "nordics", "seller"),
        (3, "nordics", "manager"),
    ]
    assert dict(rows[0].person) == {"id": "erik", "name": "Erik Lund", "email": "erik@acme.example"}
    assert rows[1].person["country"] == "NO"
    assert rows[1].person["connector"] == "google"


def test_spreadsheet_export_with_bom_semicolons_and_capitals() -> None:
    text = "\ufeffTeam;ID;Name;Email\nnordics;erik;Lund, Erik;erik@acme.example\n\n"
    rows, problems = parse_people_csv(text, "p.csv")
    assert problems == []
    assert [(r.person["id"], r.person["name"]) for r in rows] == [("erik", "Lund, Erik")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "team,id,name,email,timezone\nnordics,erik,Erik,erik@acme.example,Europe/Stokholm\n",
            [
                "p.csv:2: timezone: unknown time zone 'Europe/Stokholm'; "
                "did you mean 'Europe/Stockholm'?"
            ],
        ),
        (
            "team,id,name,email\nnordics,erik,Erik,erik-at-acme\n",
            [
                "p.csv:2: email: 'erik-at-acme' is not an e-mail address: an email address must "
                "have an @-sign"
            ],
        ),
        (
            "team,id,name,email\nnordics,,Erik,erik@acme.example\n",
            ["p.csv:2: id: empty; this column is required"],
        ),
        (
            "team,id,name,email\n,erik,Erik,erik@acme.example\n",
            ["p.csv:2: team: empty; name the person's team"],
        ),
        (
            "team,id,name,email,role\nnordics,erik,Erik,erik@acme.example,coach\n",
            ["p.csv:2: role: unknown role 'coach': use seller or manager"],
        ),
        (
            "team,id,name,email,country\nnordics,erik,Erik,erik@acme.example,Sweden\n",
            [
                "p.csv:2: country: unknown country 'Sweden': use an ISO 3166 alpha-2 code "
                "with public holidays in the holidays package (e.g. SE, NO, DE, US)"
            ],
        ),
        (
            "team,id,name,email,connector\nnordics,erik,Erik,erik@acme.example,caldev\n",
            [
                "p.csv:2: connector: unknown connector 'caldev': "
                "use one of caldav, google, local, outlook"
            ],
        ),
        (
            "team,id,name,email\nnordics,erik lund,Erik,erik@acme.example\n",
            [
                "p.csv:2: id: 'erik lund' is not an id: use letters, digits, '.', '_' or '-' "
                "(no spaces)"
            ],
        ),
        (
            "team,id,name,email,phone\nnordics,erik,Erik,erik@acme.example,123\n",
            [
                "p.csv:1: phone: unknown column; columns are team, id, name, email, timezone, "
                "country, connector, calendar, role, subdivision"
            ],
        ),
        ("team,id,name\nnordics,erik,Erik\n", ["p.csv:1: email: required column is missing"]),
        (
            "team,id,name,email\nnordics,erik,Erik,erik@acme.example,extra\n",
            ["p.csv:2: 5 cells but 4 columns"],
        ),
        ("", ["p.csv: the file is empty; expected a header row"]),
        (
            'team,id,name,email\n"nordics\nX-Injected: yes",erik,Erik,erik@acme.example\n',
            [
                "p.csv:2: team: 'nordics\\nX-Injected: yes' is not an id: use letters, "
                "digits, '.', '_' or '-' (no spaces)"
            ],
        ),
        (
            "team,id,name,email\nnordics,erik,Erik\x1b[2J,erik@acme.example\n",
            [
                "p.csv:2: name: contains a control character (U+001B); write it as one line "
                "of plain text"
            ],
        ),
        (
            "team,id,name,email\nnordics,erik,Erik,../../../../outside/evil@acme.example\n",
            [
                "p.csv:2: email: '../../../../outside/evil@acme.example' is not an e-mail "
                "address: an email address cannot start with a period"
            ],
        ),
    ],
    ids=[
        "time zone",
        "email",
        "empty id",
        "empty team",
        "role",
        "country",
        "connector",
        "id with space",
        "unknown column",
        "missing column",
        "too many cells",
        "empty file",
        "line break in the team",
        "escape in the name",
        "e-mail leaving the calendar folder",
    ],
)
def test_bad_rows_give_exact_messages(text: str, expected: list[str]) -> None:
    assert messages(text) == expected


def test_every_bad_row_is_reported_and_good_rows_still_parse() -> None:
    text = (
        "team,id,name,email,timezone\n"
        "nordics,erik,Erik,erik@acme.example,\n"
        "nordics,sara,Sara,sara-acme,Mars/Base\n"
        "nordics,nils,Nils,nils@acme.example,\n"
    )
    rows, problems = parse_people_csv(text, "p.csv")
    assert [r.person["id"] for r in rows] == ["erik", "nils"]
    assert sorted(str(p) for p in problems) == [
        "p.csv:3: email: 'sara-acme' is not an e-mail address: an email address must have "
        "an @-sign",
        "p.csv:3: timezone: unknown time zone 'Mars/Base'",
    ]


def test_line_numbers_count_quoted_line_breaks() -> None:
    text = (
        "team,id,name,email\n"
        'nordics,erik,"Erik\nLund",erik@acme.example\n'
        "nordics,sara,Sara,not-an-address\n"
    )
    # The line break itself is refused in a name, but still counted.
    assert messages(text) == [
        "p.csv:2: name: contains a control character (U+000A); write it as one line of plain text",
        "p.csv:4: email: 'not-an-address' is not an e-mail address: an email address must "
        "have an @-sign",
    ]


def test_default_team_fills_empty_and_missing_team_cells() -> None:
    rows, problems = parse_people_csv(
        "id,name,email\nerik,Erik,erik@acme.example\n", "p.csv", default_team="dach"
    )
    assert problems == []
    assert rows[0].team == "dach"


def test_duplicates_inside_one_file() -> None:
    rows, _ = parse_people_csv(
        "team,id,name,email\n"
        "a,erik,Erik,erik@acme.example\n"
        "b,erik,Erik,erik@acme.example\n"
        "a,sara,Sara,ERIK@acme.example\n",
        "p.csv",
    )
    assert [str(p) for p in duplicate_problems(rows)] == [
        "p.csv:3: id: 'erik' is used twice (also on line 2)",
        "p.csv:4: email: duplicate email 'ERIK@acme.example' (also 'erik' on line 2)",
    ]


def test_load_raises_config_error_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("team,id,name,email\na,w,W,bad\na,x,X,x@acme.example\na,x,Y,y@acme.example\n")
    with pytest.raises(ConfigError) as caught:
        load_people_csv(path)
    assert caught.value.problems == [
        f"{path}:2: email: 'bad' is not an e-mail address: an email address must have an @-sign",
        f"{path}:4: id: 'x' is used twice (also on line 3)",
    ]


def test_unreadable_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such CSV file"):
        read_people_csv(tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("team,id,name,email\na,b,Åsa,a@b.se\n".encode("latin-1"))
    with pytest.raises(UserError) as caught:
        read_people_csv(latin, display="latin.csv")
    # Line and column of the first byte that is not UTF-8 (the Å of Åsa).
    assert str(caught.value) == (
        "latin.csv:2:5: not UTF-8 text (byte 0xc5); save the file as UTF-8 "
        "(e.g. iconv -f latin1 -t utf-8)"
    )


def test_written_csv_reads_back_the_same() -> None:
    people = [
        {
            "team": "nordics",
            "id": "erik",
            "name": "Lund, Erik",
            "email": "erik@acme.example",
            "timezone": "Europe/Stockholm",
            "country": "SE",
            "connector": "local",
            "calendar": "erik.ics",
            "role": "seller",
            "subdivision": None,
        },
        {
            "team": "nordics",
            "id": "anna",
            "name": 'Anna "AB" Berg',
            "email": "anna@acme.example",
            "timezone": "Europe/Oslo",
            "country": "NO",
            "connector": "google",
            "calendar": "anna@acme.example",
            "role": "manager",
            "subdivision": "03",
        },
    ]
    out = io.StringIO()
    write_people_csv(people, out)
    assert out.getvalue().splitlines()[0] == ",".join(COLUMNS)
    rows, problems = parse_people_csv(out.getvalue(), "p.csv")
    assert problems == []
    for row, person in zip(rows, people, strict=True):
        assert (row.team, row.role) == (person["team"], person["role"])
        expected = {k: v for k, v in person.items() if v and k not in ("team", "role")}
        assert dict(row.person) == expected


def test_export_neutralises_formulas_and_import_reads_them_back() -> None:
    # Found by a new-user trial: `people export` wrote `=HYPERLINK(...)` as is, which a
    # spreadsheet runs; the report CSV was already protected.
    person = {
        "team": "sales",
        "id": "eve",
        "name": '=HYPERLINK("http://evil.example","Eve")',
        "email": "eve@acme.example",
        "role": "seller",
    }
    out = io.StringIO()
    write_people_csv([person], out)
    (line,) = out.getvalue().splitlines()[1:]
    assert ",\"'=HYPERLINK(" in line
    rows, problems = parse_people_csv(out.getvalue(), "p.csv")
    assert problems == []
    assert rows[0].person["name"] == person["name"]
