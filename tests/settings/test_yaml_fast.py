"""The libyaml fast path of the config loader reads a plain file exactly as the
checked pure-Python loader does (values, YAML 1.2 booleans, clock times kept as
strings, lines, duplicate keys), and leaves every other file to that loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.settings import yaml_lines

ROOT = Path(__file__).resolve().parents[2]

PLAIN = """\
organisation: {id: acme, country: NO, flags: [yes, no, on, off, true, False]}
policy:
  working_hours: {start: 8:00, end: "17:30"}
  session_minutes: 45
  ratio: 0.5
  when: 2031-03-01
teams:
  - id: t1
    id: t1-again
    sellers: [{id: a, hours: {start: 09:15:00}}, {id: b}]
"""


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    fast = yaml_lines.parse_yaml(text, Path("c.yaml"))
    monkeypatch.setattr(yaml_lines, "FastConfigLoader", None)
    slow = yaml_lines.parse_yaml(text, Path("c.yaml"))
    return fast, slow


@pytest.mark.parametrize("name", ["plain", "example"])
def test_the_fast_path_reads_as_the_checked_loader(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = PLAIN if name == "plain" else (ROOT / "config/coachpass.example.yaml").read_text()
    assert yaml_lines._fast_parse(text) is not None  # the fast path really runs
    fast, slow = _both(text, monkeypatch)
    assert fast == slow
    if name == "plain":
        assert fast.data["organisation"]["country"] == "NO"  # type: ignore[attr-defined]
        assert fast.data["policy"]["working_hours"]["start"] == "8:00"  # type: ignore[attr-defined]
        assert fast.duplicate_keys == ((("teams", 0, "id"), 9),)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1, 2]\nb: *x\n",  # anchors and aliases: bounded by the checked loader
        "a: [" * 60 + "]" * 60 + "\n",  # deep nesting: refused with its own message
        "a: b\x07\n",  # a control character: named with its position
        "a: [1, 2\n",  # a syntax error: worded by the checked loader
    ],
)
def test_other_files_go_to_the_checked_loader(text: str) -> None:
    assert yaml_lines._fast_parse(text) is None
