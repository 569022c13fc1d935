"""The local connector never resolves an attendee's calendar outside its folder
(issue 10, finding 6), whatever e-mail reaches it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectors.ics.folder import attendee_calendars, inside

OWNED = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-COACHPASS-OWNER:mailto:{email}\r\nEND:VCALENDAR\r\n"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """calendars/ beside outside/, which holds files a hostile e-mail aims at."""
    (tmp_path / "calendars").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "evil@acme.example.ics").write_text(OWNED.format(email="x"))
    (tmp_path / "outside" / "evil@acme.example").mkdir()
    (tmp_path / "calendars" / "erik@acme.example.ics").write_text(OWNED.format(email="erik"))
    return tmp_path / "calendars"


@pytest.mark.parametrize(
    "email",
    [
        "../outside/evil@acme.example",
        "{tmp}/outside/evil@acme.example",
        "sub/../../outside/evil@acme.example",
    ],
)
def test_an_email_that_leaves_the_folder_finds_nothing(layout: Path, email: str) -> None:
    email = email.format(tmp=layout.parent)
    assert (layout / f"{email}.ics").resolve().exists(), "the target exists: a real attempt"
    assert attendee_calendars(layout, [email]) == {}


def test_a_symbolic_link_out_of_the_folder_is_not_followed(layout: Path) -> None:
    os.symlink(
        layout.parent / "outside" / "evil@acme.example.ics", layout / "mole@acme.example.ics"
    )
    assert attendee_calendars(layout, ["mole@acme.example"]) == {}


def test_calendars_inside_the_folder_are_still_found(layout: Path) -> None:
    (layout / "sara.ics").write_text(OWNED.format(email="sara@acme.example"))
    found = attendee_calendars(layout, ["Erik@acme.example", "sara@acme.example", "nobody@x.se"])
    assert found == {
        "erik@acme.example": layout / "erik@acme.example.ics",
        "sara@acme.example": layout / "sara.ics",
    }


def test_inside(tmp_path: Path) -> None:
    assert inside(tmp_path, "a/b.ics") == tmp_path / "a/b.ics"
    assert inside(tmp_path, "../b.ics") is None
    assert inside(tmp_path, "/etc/passwd") is None
    assert inside(tmp_path, ".") is None
    assert inside(tmp_path, "nul\x00.ics") is None
