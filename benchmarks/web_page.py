"""The manager's page: link tokens signed and verified per second, and the page's
answer times over a real socket (GET the session, POST a mark, GET a bad link), on
a local-calendar organisation in a temporary folder. Also the "sessions booked"
notices for a whole organisation. Prints figures; never asserts a time.

    .venv/bin/python benchmarks/web_page.py
    .venv/bin/python benchmarks/web_page.py --requests 500 --sellers 40
    .venv/bin/python benchmarks/web_page.py --managers 700   # notices at 10,500 sellers
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.model import Month
from scheduler.runtime import Runtime
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from scheduler.web.notices import send_booked_notices
from scheduler.web.server import PageServer
from scheduler.web.tokens import Signer
from tests.service.procs import free_port
from tests.web.helpers import links_by_seller, notices, web_org

MONTH = Month(2031, 3)
BOOKED_AT = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)


def tokens(n: int) -> None:
    signer = Signer.of(b"k" * 48, (b"o" * 48,))
    expires = BOOKED_AT + timedelta(days=60)
    started = time.perf_counter()
    made = [signer.sign(f"cp{i:032x}", "manager-with-a-longish-id", expires) for i in range(n)]
    signed = time.perf_counter() - started
    started = time.perf_counter()
    for token in made:
        signer.verify(token, BOOKED_AT)
    verified = time.perf_counter() - started
    print(
        f"tokens: {n / signed:,.0f} signed/s, {n / verified:,.0f} verified/s, "
        f"{len(made[0])} characters each"
    )


def _call(port: int, method: str, path: str, body: str = "", cookie: str = "") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Cookie": cookie} if cookie else {}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body or None, headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, text


def _ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[int(len(samples) * 0.95) - 1] if len(samples) >= 20 else samples[-1]
    return f"median {statistics.median(samples) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def page(requests: int, sellers: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        config = web_org(Path(folder), f"http://127.0.0.1:{port}", sellers=sellers)
        rt = Runtime.open(load_settings(config))
        try:
            book_month(rt, MONTH, BOOKED_AT)
            started = time.perf_counter()
            summary = send_booked_notices(rt, BOOKED_AT)
            took = time.perf_counter() - started
            print(
                f"booked notices: {summary.sessions} sessions to {len(summary.sent)} "
                f"managers in {took:.2f} s"
            )
            [mail] = notices(Path(folder) / "outbox", "booked")
            path = urlsplit(next(iter(links_by_seller(mail).values()))).path
            last_end = max(r.end for r in rt.store.sessions() if r.end)
            server = PageServer(
                rt, f"127.0.0.1:{port}", clock=lambda: last_end + timedelta(hours=1)
            )
            try:
                gets, posts, bad = [], [], []
                cookie = ""
                for i in range(requests):
                    t0 = time.perf_counter()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    text = resp.read().decode()
                    cookie = (resp.getheader("Set-Cookie") or "").split(";")[0]
                    conn.close()
                    gets.append(time.perf_counter() - t0)
                    csrf = re.search(r'name="csrf" value="([^"]+)"', text)
                    assert csrf, text
                    form = urlencode(
                        {
                            "csrf": csrf.group(1),
                            "outcome": "held",
                            "note": f"note {i}",
                            "followup": ["a", "b"],
                        },
                        doseq=True,
                    )
                    t0 = time.perf_counter()
                    status, _ = _call(port, "POST", path + "/mark", form, cookie)
                    posts.append(time.perf_counter() - t0)
                    assert status == 303, status
                    t0 = time.perf_counter()
                    status, _ = _call(port, "GET", path[:-3] + "AAA")
                    bad.append(time.perf_counter() - t0)
                    assert status == 403
                print(f"GET page ({requests}): {_ms(gets)}")
                print(f"POST mark ({requests}): {_ms(posts)}")
                print(f"GET bad link ({requests}): {_ms(bad)}")
            finally:
                server.close()
        finally:
            rt.close()


def notices_at_scale(managers: int, per_team: int = 15) -> None:
    """The booked notices of a whole organisation: sessions written straight into
    the store (no calendars), then one e-mail per manager into the outbox."""
    import yaml

    from scheduler.model import SessionRecord, SessionState, session_key
    from tests.orgs import person

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "signing.key").write_text("k" * 48)
        (root / "signing.key").chmod(0o600)
        teams = [
            {
                "id": f"t{t}",
                "name": f"Team {t}",
                "manager": person(f"m{t}"),
                "sellers": [person(f"s{t}x{i}") for i in range(per_team)],
            }
            for t in range(managers)
        ]
        config = {
            "organisation": {
                "id": "big",
                "name": "Big",
                "timezone": "Europe/Stockholm",
                "country": "SE",
            },
            "teams": teams,
            "connectors": {"local": {"path": "calendars"}},
            "mail": {"from": "Coachpass <coachpass@example.com>", "outbox": "outbox"},
            "web": {
                "public_base_url": "https://coachpass.example",
                "signing_key_file": "signing.key",
            },
        }
        (root / "coachpass.yaml").write_text(yaml.safe_dump(config))
        rt = Runtime.open(load_settings(root / "coachpass.yaml"))
        try:
            start = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
            started = time.perf_counter()
            for t in range(managers):
                for i in range(per_team):
                    seller = f"s{t}x{i}"
                    rt.store.add_session(
                        SessionRecord(
                            key=session_key("big", f"m{t}", seller, MONTH, 1),
                            org_id="big",
                            team_id=f"t{t}",
                            manager_id=f"m{t}",
                            seller_id=seller,
                            month=MONTH,
                            attempt=1,
                            state=SessionState.BOOKED,
                            start=start + timedelta(hours=i),
                            end=start + timedelta(hours=i, minutes=45),
                        ),
                        now=BOOKED_AT,
                    )
            print(
                f"setup: {managers * per_team} sessions written in "
                f"{time.perf_counter() - started:.1f} s"
            )
            started = time.perf_counter()
            summary = send_booked_notices(rt, BOOKED_AT)
            took = time.perf_counter() - started
            print(
                f"booked notices: {summary.sessions} sessions, {len(summary.sent)} e-mails "
                f"in {took:.1f} s ({took / max(1, len(summary.sent)) * 1000:.1f} ms per manager)"
            )
            started = time.perf_counter()
            again = send_booked_notices(rt, BOOKED_AT)
            print(
                f"again (nothing to send): {again.sessions} sessions in "
                f"{time.perf_counter() - started:.2f} s"
            )
        finally:
            rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--sellers", type=int, default=12)
    parser.add_argument("--managers", type=int, default=0, help="notices at this many teams of 15")
    args = parser.parse_args()
    if args.managers:
        notices_at_scale(args.managers)
        return
    tokens(args.tokens)
    page(args.requests, args.sellers)


if __name__ == "__main__":
    main()
