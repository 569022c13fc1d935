"""msal's sign-in service faults (issue 9, finding 3): an unknown tenant, an
unreachable authority and a failed TLS handshake happen while msal builds its app
object; each must become a typed connector error with a message that names tenant,
app and host and the fix (never the secret), and through the CLI one such team must
not stop a team on another connector."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connectors.base import ConnectorContext, ConnectorUserError, TransientError
from connectors.outlook.connector import OutlookConnector
from scheduler.cli.main import main
from tests.fakes.graph_client import SECRET_ENV
from tests.fakes.graph_server import CLIENT_ID, CLIENT_SECRET, TENANT, FakeGraph
from tests.orgs import person, write_org


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    return CLIENT_SECRET


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    """An https server on 127.0.0.1 with a self-signed certificate nobody trusts."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "self-signed.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # pragma: no cover - the handshake fails first
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_unknown_tenant_is_a_user_error_naming_the_tenant(secret: str, tmp_path: Path) -> None:
    fake = FakeGraph(["manager@example.com"]).start()
    try:
        with pytest.raises(ConnectorUserError) as info:
            OutlookConnector(
                fake.options(tenant_id="no-such-tenant.example"),
                ConnectorContext(base_dir=tmp_path),
                transport=fake.transport(),
            )
    finally:
        fake.stop()
    text = str(info.value)
    assert "no-such-tenant.example" in text and "check tenant_id" in text
    assert CLIENT_ID in text and secret not in text


def test_unreachable_authority_is_transient(secret: str, tmp_path: Path) -> None:
    host = f"https://127.0.0.1:{_closed_port()}"
    options = {
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV,
        "authority_host": host,
        "timeout_seconds": 5,
    }
    with pytest.raises(TransientError) as info:
        OutlookConnector(options, ConnectorContext(base_dir=tmp_path))
    text = str(info.value)
    assert host in text and "could not be reached" in text and secret not in text


def test_tls_failure_with_the_authority_is_a_user_error(
    secret: str, tmp_path: Path, tls_server: int
) -> None:
    host = f"https://127.0.0.1:{tls_server}"
    options = {
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV,
        "authority_host": host,
        "timeout_seconds": 5,
    }
    with pytest.raises(ConnectorUserError) as info:
        OutlookConnector(options, ConnectorContext(base_dir=tmp_path))
    text = str(info.value)
    assert "TLS" in text and host in text and "certificate verify failed" in text
    assert secret not in text


def test_outlook_team_with_unreachable_sign_in_does_not_stop_a_local_team(
    secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through `book`: the local team is booked, the Outlook team is listed, exit 3."""
    monkeypatch.setenv("COACHPASS_NOW", "2031-02-20T08:00:00+00:00")
    config = write_org(tmp_path, sellers=2)
    data = yaml.safe_load(config.read_text())
    outlook = {k: v for k, v in person("chef").items() if k != "calendar"}
    sellers = [{k: v for k, v in person(p).items() if k != "calendar"} for p in ("o1", "o2")]
    data["teams"].append(
        {
            "id": "t2",
            "name": "Team Two",
            "manager": outlook,
            "sellers": sellers,
            "connector": "outlook",
        }
    )
    data["connectors"]["outlook"] = {
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV,
        "authority_host": f"https://127.0.0.1:{_closed_port()}",
        "timeout_seconds": 5,
        "max_attempts": 1,
    }
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        main(["--config", str(config), "book", "--month", "2031-03"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert code == 3, err
    assert "2 events created" in out
    assert "team t2 (manager Chef <chef@example.com>)" in err and "sign-in service" in err
    assert "Traceback" not in err and secret not in err
    assert "X-COACHPASS-SESSION" in (tmp_path / "calendars" / "s1.ics").read_text()
