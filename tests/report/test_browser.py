"""The report's HTML in a real browser (headless Chromium through Selenium), at a
phone's 400 px and a desktop's 1,200 px: screenshots are saved under the test's
temporary folder, and at 400 px every column header and every manager row must be
inside the viewport, with nothing to scroll sideways.

Chromium comes from the system (`.ci/browser` installs Debian's chromium and
chromium-driver). Without it the test is skipped on a developer's machine and fails
under CI=true, so CI cannot pass by not looking.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.model import Month, Organisation, Person, Policy, SessionRecord, SessionState, Team
from scheduler.model import session_key as key_of
from scheduler.report.kpi import compute_month
from scheduler.report.render import render_report_html
from scheduler.report.trend import last_months, trend

TEMPLATES = Path(__file__).resolve().parents[2] / "config" / "templates"
MONTH = Month(2026, 11)
S = SessionState


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing: .ci/browser installs it (CI must run this test)")
    pytest.skip(f"{what} is not installed (run .ci/browser)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("the selenium package")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        _missing("chromium / chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    # Phones' scrollbars overlay the page; a desktop one would take 15 px of the 400.
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(driver_path)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _org(language: str) -> tuple[Organisation, list[SessionRecord]]:
    """Six managers with long names, ten sellers each, every outcome somewhere."""
    teams, sessions = [], []
    states = [S.HELD] * 6 + [S.NO_SHOW, S.DECLINED, S.CANCELLED, S.UNBOOKABLE]
    for t in range(6):
        manager = Person(
            f"m{t}",
            f"Manager Annika-Charlotte Bergström-Lindqvist {t}",
            f"m{t}@acme.example",
            "Europe/Stockholm",
            "SE",
            "local",
            f"m{t}",
        )
        sellers = tuple(
            Person(
                f"s{t}x{n}",
                f"Seller Maximilian Östergren-Wallenberg {t}.{n}",
                f"s{t}x{n}@acme.example",
                "Europe/Stockholm",
                "SE",
                "local",
                f"s{t}x{n}",
            )
            for n in range(10)
        )
        team = Team(f"team-{t}", f"Enterprise Accounts Northern Region {t}", manager, sellers)
        teams.append(team)
        for n, seller in enumerate(sellers):
            state = states[(n + t) % len(states)]
            for month in (MONTH.previous(), MONTH):
                start = datetime(month.year, month.month, 3 + n, 9, tzinfo=UTC)
                sessions.append(
                    SessionRecord(
                        key_of("acme", manager.id, seller.id, month, 1),
                        "acme",
                        team.id,
                        manager.id,
                        seller.id,
                        month,
                        1,
                        state,
                        start,
                        start + timedelta(minutes=45),
                        reason="no common free time within both people's working hours"
                        if state is S.UNBOOKABLE
                        else "",
                    )
                )
    org = Organisation(
        "acme",
        "Acme Försäljning Norden AB",
        "Europe/Stockholm",
        "SE",
        language,
        Policy(),
        tuple(teams),
    )
    return org, sessions


def _html(language: str) -> str:
    org, sessions = _org(language)
    return render_report_html(
        org,
        MONTH,
        compute_month(org, MONTH, sessions),
        trend(org, last_months(MONTH), sessions),
        templates_dir=TEMPLATES,
        generated_at=datetime(2026, 12, 1, 7, tzinfo=UTC),
        previous=compute_month(org, MONTH.previous(), sessions),
    )


_BOXES = """
const box = e => { const r = e.getBoundingClientRect();
  return {text: e.innerText.trim(), left: r.left, right: r.right, top: r.top}; };
return {
  viewport: document.documentElement.clientWidth,
  scroll: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight,
  headers: [...document.querySelectorAll('th')].map(box),
  managers: [...document.querySelectorAll('table.ranking tr.row, table.ranking tr.total')]
    .map(tr => ({row: box(tr), cells: [...tr.children].map(box)})),
  blocks: [...document.querySelectorAll('.tile, .card, .chart')].map(box),
  tiles: [...document.querySelectorAll('.tile')].map(box),
};
"""


def _open(driver: Any, page: Path, width: int, shot: Path) -> dict[str, Any]:
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.get(page.as_uri())
    boxes: dict[str, Any] = driver.execute_script(_BOXES)
    # The whole page in one screenshot: the viewport made as tall as the page.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {**metrics, "height": boxes["height"]}
    )
    driver.save_screenshot(str(shot))
    return boxes


@pytest.mark.parametrize("language", ["en", "sv"])
def test_report_readable_at_400_and_1200_px(browser: Any, tmp_path: Path, language: str) -> None:
    page = tmp_path / f"report-{language}.html"
    page.write_text(_html(language), encoding="utf-8")

    phone = _open(browser, page, 400, tmp_path / f"report-{language}-400.png")
    assert phone["viewport"] == 400
    assert phone["scroll"] <= 400, "nothing may need sideways scrolling at 400 px"
    headers = phone["headers"]
    # Ranking (5) + not coached (3) tables.
    assert len(headers) == 8
    for h in headers:
        assert h["text"] and h["left"] >= 0 and h["right"] <= 400, h
    rows = phone["managers"]
    assert len(rows) == 7  # six managers and the total
    for r in rows:
        assert r["row"]["right"] <= 400, r["row"]
        for cell in r["cells"]:
            assert cell["text"] and cell["left"] >= 0 and cell["right"] <= 400, cell
    for block in phone["blocks"]:
        assert block["left"] >= 0 and block["right"] <= 400, block

    desktop = _open(browser, page, 1200, tmp_path / f"report-{language}-1200.png")
    assert desktop["scroll"] <= 1200
    # On a desktop the headline tiles sit side by side, on a phone they stack.
    assert len({round(t["top"]) for t in desktop["tiles"]}) == 1
    assert len({round(t["top"]) for t in phone["tiles"]}) > 1
    for shot in ("400", "1200"):
        png = tmp_path / f"report-{language}-{shot}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
