"""The manager's page in `coachpass serve` with PostgreSQL: a standby instance serves
the page and records what the manager asks, but writes no calendar; the instance
that leads carries the request out."""

from __future__ import annotations

import http.client
import re
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from scheduler.model import Month, SessionState
from scheduler.settings.load import load_settings
from scheduler.store.lock import NamedLock
from scheduler.store.notices import DONE, PENDING, NoticeStore
from scheduler.store.store import Store
from tests.orgs import run_cli
from tests.service.procs import Serve, free_port
from tests.web.helpers import links_by_seller, notices, web_org

MONTH = Month(2027, 3)
NEVER = "0 0 29 2 *"


def _call(
    port: int, method: str, path: str, body: str = "", cookie: str = ""
) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Cookie": cookie} if cookie else {}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body or None, headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode()
    set_cookie = (resp.getheader("Set-Cookie") or "").split(";")[0]
    conn.close()
    return resp.status, text, set_cookie


@pytest.mark.postgres
def test_a_standby_serves_the_page_and_only_the_leader_moves_the_session(
    pg_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    schedule = {k: NEVER for k in ("book_next_month", "top_up", "reconcile", "report", "remind")}
    config = web_org(
        tmp_path,
        f"http://127.0.0.1:{port}",
        sellers=2,
        config={"schedule": {"timezone": "Europe/Stockholm", **schedule}},
    )
    text = config.read_text().replace("sqlite:///coachpass.db", pg_url)
    config.write_text(text)
    monkeypatch.setenv("COACHPASS_NOW", "2027-02-20T08:00:00+00:00")
    code, out, err = run_cli(["--config", str(config), "book", "--month", str(MONTH)], capsys)
    assert code == 0, out + err
    [mail] = notices(tmp_path / "outbox", "booked")
    path = urlsplit(links_by_seller(mail)["S1"]).path

    store = Store.open(load_settings(config).store_url, migrate=False)
    leader = NamedLock(store.engine, "leader:acme")  # this test leads: serve stands by
    assert leader.try_acquire()
    service = Serve(
        config,
        now="2027-02-25T08:00:00+00:00",
        extra_env={"COACHPASS_WEB_LISTEN": f"127.0.0.1:{port}"},
    )
    try:
        service.wait_for(r"manager's page on")
        service.wait_for(r"standby: another instance leads")
        status, page, cookie = _call(port, "GET", path)
        assert status == 200 and "S1" in page
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        assert match
        body = urlencode({"csrf": match.group(1)})
        status, _, _ = _call(port, "POST", path + "/new-time", body, cookie)
        assert status == 303
        [s1] = store.sessions(month=MONTH, seller_id="s1")
        requests = NoticeStore(store.engine)
        assert requests.request_of(s1.key)["status"] == PENDING  # type: ignore[index]
        time.sleep(4)  # longer than the leader's look at requests: a standby does nothing
        assert requests.request_of(s1.key)["status"] == PENDING  # type: ignore[index]
        assert store.get(s1.key).state is SessionState.BOOKED  # type: ignore[union-attr]

        leader.release()
        deadline = time.monotonic() + 60
        while requests.request_of(s1.key)["status"] == PENDING:  # type: ignore[index]
            assert time.monotonic() < deadline, service.text
            time.sleep(0.5)
        assert requests.request_of(s1.key)["status"] == DONE, service.text  # type: ignore[index]
        attempts = {r.attempt: r.state for r in store.sessions(month=MONTH, seller_id="s1")}
        assert attempts == {1: SessionState.CANCELLED, 2: SessionState.BOOKED}
        status, page, _ = _call(port, "GET", path)
        assert "Done: cancelled; new time booked" in page
    finally:
        service.stop()
        leader.release()
        store.close()
