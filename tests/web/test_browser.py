"""The manager's page in a real browser (headless Chromium through Selenium) against
a running `coachpass serve`, as issue 11 asks: open the link from the "sessions
booked" e-mail, mark the session held with a note and follow-ups, book the next
month and find the follow-ups in the next session's agenda (the organiser's .ics);
tampered, expired and other-session links get 403 and change nothing; "ask for a
new time" is recorded by the page and carried out by the leader.

Chromium comes from the system (`.ci/browser`); without it the test is skipped on a
developer's machine and fails under CI=true.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest

from scheduler.model import Month, SessionState
from scheduler.settings.load import load_settings
from scheduler.store.store import Store
from scheduler.web.keys import signer as load_signer
from tests.orgs import run_cli
from tests.report.test_browser import browser as browser  # the fixture
from tests.service.procs import Serve, free_port
from tests.web.helpers import links_by_seller, notices, web_org

MARCH, APRIL = Month(2027, 3), Month(2027, 4)
BOOK_MARCH = "2027-02-20T08:00:00+00:00"
MONTH_END = "2027-03-31T10:00:00+00:00"
NEVER = "0 0 29 2 *"  # no 29 February between the store's creation and these months


def _status(url: str, data: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _submit(browser: Any, button_id: str) -> None:
    """Click a form's button and wait until the answer's page replaced this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    button = browser.find_element(By.ID, button_id)
    button.click()
    WebDriverWait(browser, 30).until(expected_conditions.staleness_of(button))


def _body(browser: Any) -> str:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(20):
        try:
            return str(browser.find_element(By.TAG_NAME, "body").text)
        except StaleElementReferenceException:  # a navigation replaced the page
            time.sleep(0.1)
    raise AssertionError("the page kept changing")


def _snapshot(store: Store) -> tuple[Any, ...]:
    return store.sessions(), [(c.key, c.to_state, c.detail) for c in store.history()]


@pytest.fixture
def served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    schedule = {k: NEVER for k in ("book_next_month", "top_up", "reconcile", "report", "remind")}
    config = web_org(
        tmp_path, base, sellers=2, config={"schedule": {"timezone": "Europe/Stockholm", **schedule}}
    )
    monkeypatch.setenv("COACHPASS_NOW", BOOK_MARCH)
    code, out, err = run_cli(["--config", str(config), "book", "--month", str(MARCH)], capsys)
    assert code == 0, out + err
    service = Serve(config, now=MONTH_END, extra_env={"COACHPASS_WEB_LISTEN": f"127.0.0.1:{port}"})
    try:
        service.wait_for(r"manager's page on http://127\.0\.0\.1")
        service.wait_for(r"serving: ")
        yield config, base
    finally:
        service.stop()


def test_manager_closes_the_loop_in_a_browser(
    served: tuple[Path, str],
    browser: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from selenium.webdriver.common.by import By

    config, base = served
    folder = config.parent
    [booked] = notices(folder / "outbox", "booked")
    links = links_by_seller(booked)
    assert sorted(links) == ["S1", "S2"]

    # Mark held with a note and follow-ups, at a phone's width.
    browser.set_window_size(400, 860)
    browser.get(links["S1"])
    assert browser.find_element(By.ID, "seller").text == "S1"
    assert "S2" not in _body(browser)
    browser.find_element(By.ID, "held").click()
    browser.find_element(By.ID, "note_field").send_keys("Went through the pipeline")
    browser.find_element(By.ID, "followup1").send_keys("Call Acme by Friday")
    browser.find_element(By.ID, "followup2").send_keys("Practise the demo opening")
    _submit(browser, "save")
    assert "Saved" in browser.find_element(By.CLASS_NAME, "msg").text
    assert "Call Acme by Friday" in browser.find_element(By.ID, "followups").text
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, "nothing to scroll sideways on a phone"

    store = Store.open(load_settings(config).store_url, migrate=False)
    try:
        [s1] = store.sessions(month=MARCH, seller_id="s1")
        assert s1.state is SessionState.HELD and s1.note == "Went through the pipeline"
        assert s1.followups == "- Call Acme by Friday\n- Practise the demo opening"
        assert store.history(keys=[s1.key])[-1].detail == "marked by manager (web)"

        # Tampered, expired and other-session links: 403, in the browser too, and
        # nothing in the store moves.
        settings = load_settings(config)
        assert settings.web is not None
        signer = load_signer(settings.web)
        token1 = links["S1"].rsplit("/", 1)[1]
        token2 = links["S2"].rsplit("/", 1)[1]
        payload, mac = token1.split(".")
        bad = {
            "tampered": f"{payload}.{mac[:-2]}{'A' if mac[-2] != 'A' else 'B'}{mac[-1]}",
            "expired": signer.sign(s1.key, "boss", datetime(2027, 3, 1, tzinfo=UTC)),
            "other-session": f"{token2.split('.')[0]}.{mac}",
        }
        before = _snapshot(store)
        for name, token in bad.items():
            url = f"{base}/m/{token}"
            assert _status(url) == 403, name
            assert _status(url + "/mark", b"outcome=no_show&note=x") == 403, name
            browser.get(url)
            assert "This link is not valid" in _body(browser)
        assert _snapshot(store) == before

        # Next month: the follow-ups are in S1's agenda in the organiser's calendar.
        monkeypatch.setenv("COACHPASS_NOW", MONTH_END)
        code, out, err = run_cli(["--config", str(config), "book", "--month", str(APRIL)], capsys)
        assert code == 0, out + err
        [april1] = store.sessions(month=APRIL, seller_id="s1")
        calendar = icalendar.Calendar.from_ical((folder / "calendars" / "boss.ics").read_bytes())
        [event] = [
            e for e in calendar.walk("VEVENT") if str(e.get("X-COACHPASS-SESSION")) == april1.key
        ]
        agenda = str(event.get("DESCRIPTION"))
        assert "Call Acme by Friday" in agenda and "Practise the demo opening" in agenda
        assert "/m/" not in agenda, "the shared invitation carries no link"

        # Ask for a new time for S2's April session: the leader cancels and rebooks.
        april_links = next(
            links_by_seller(m)
            for m in notices(folder / "outbox", "booked")
            if "April" in str(m["Subject"])
        )
        [april2] = store.sessions(month=APRIL, seller_id="s2")
        browser.get(april_links["S2"])
        _submit(browser, "new_time")
        deadline = time.monotonic() + 60
        while "Done:" not in _body(browser):
            assert time.monotonic() < deadline, _body(browser)
            time.sleep(1)
            browser.refresh()
        attempts = {r.attempt: r for r in store.sessions(month=APRIL, seller_id="s2")}
        assert attempts[april2.attempt].state is SessionState.CANCELLED
        assert attempts[april2.attempt + 1].state is SessionState.BOOKED
        details = [c.detail for c in store.history(keys=[april2.key])]
        assert "new time asked by manager (web)" in details
        assert any(d.startswith("cancelled by manager (web)") for d in details)
        assert (attempts[april2.attempt + 1].start or datetime.max.replace(tzinfo=UTC)) > (
            datetime.fromisoformat(MONTH_END) + timedelta(hours=1)
        )
    finally:
        store.close()
