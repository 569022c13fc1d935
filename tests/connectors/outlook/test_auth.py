"""Sign-in for the Outlook connector: msal's real client-credentials and device-code
paths against the fake Entra ID endpoints, and the messages an admin sees."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connectors.base import AuthError, ConnectorContext, ConnectorUserError, SecretError
from connectors.outlook.admin import authorize_device_code, check
from connectors.outlook.connector import OutlookConnector
from tests.fakes.graph_client import SECRET_ENV, connect, ref
from tests.fakes.graph_server import CLIENT_ID, CLIENT_SECRET, TENANT, FakeGraph

START = dt.datetime(2031, 3, 3, tzinfo=dt.UTC)
END = dt.datetime(2031, 3, 4, tzinfo=dt.UTC)
MAILBOXES = ["manager@example.com", "seller1@example.com"]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph(MAILBOXES).start()
    try:
        yield server
    finally:
        server.stop()


def test_client_secret_from_file_and_token_reused(fake: FakeGraph, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(CLIENT_SECRET + "\n")
    conn = connect(fake, tmp_path, client_secret_env=None, client_secret_file="secret.txt")
    try:
        for _ in range(3):
            answer = conn.busy([ref(m) for m in MAILBOXES], START, END)
            assert not answer.errors
    finally:
        conn.close()
    # OIDC discovery + one token; msal's cache serves the other calls.
    assert fake.counts["token"] == 2
    assert fake.counts["graph"] == 3
    assert set(fake.tokens.values()) == {"app"}


def test_wrong_secret_names_tenant_and_app_but_not_the_secret(
    fake: FakeGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "wrong-secret-123")
    conn = connect(fake, tmp_path)
    try:
        with pytest.raises(AuthError) as info:
            conn.busy([ref(MAILBOXES[0])], START, END)
    finally:
        conn.close()
    text = str(info.value)
    assert TENANT in text and CLIENT_ID in text
    assert "invalid_client" in text and "renew" in text
    assert "wrong-secret-123" not in text
    assert fake.counts["graph"] == 0


def test_unset_secret_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    fake = FakeGraph(MAILBOXES)  # never started: the error comes before any request
    with pytest.raises(SecretError, match=SECRET_ENV):
        OutlookConnector(fake.options(), ConnectorContext(base_dir=tmp_path))


def test_inline_looking_options_without_credentials_say_what_to_set(tmp_path: Path) -> None:
    options = {"tenant_id": TENANT, "client_id": CLIENT_ID}
    with pytest.raises(ConnectorUserError, match="client_secret_env"):
        OutlookConnector(options, ConnectorContext(base_dir=tmp_path))


def _certificate(tmp_path: Path) -> tuple[Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coachpass-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + cert.public_bytes(serialization.Encoding.PEM)
    path = tmp_path / "app.pem"
    path.write_bytes(pem)
    thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return path, thumbprint.upper()


def test_certificate_credential_signs_an_assertion(fake: FakeGraph, tmp_path: Path) -> None:
    pem, thumbprint = _certificate(tmp_path)
    fake.secret = "no secret is accepted in this test"
    conn = connect(
        fake,
        tmp_path,
        client_secret_env=None,
        certificate_file=str(pem),
        certificate_thumbprint=thumbprint,
    )
    try:
        assert not conn.busy([ref(MAILBOXES[0])], START, END).errors
    finally:
        conn.close()
    assert set(fake.tokens.values()) == {"app"}


def test_certificate_without_thumbprint_is_a_user_error(fake: FakeGraph, tmp_path: Path) -> None:
    pem, _ = _certificate(tmp_path)
    with pytest.raises(ConnectorUserError, match="certificate_thumbprint"):
        connect(fake, tmp_path, client_secret_env=None, certificate_file=str(pem))


def test_device_code_sign_in_writes_private_cache_used_by_connector(
    fake: FakeGraph, tmp_path: Path
) -> None:
    fake.auto_approve_devices = False
    shown: list[str] = []

    def echo(message: str) -> None:
        shown.append(message)
        # The admin opens the page and types the code shown.
        fake.approve_device(message.rsplit(" ", 1)[-1])

    options = fake.options(client_secret_env=None, token_cache_file="state/outlook-token.json")
    context = ConnectorContext(base_dir=tmp_path)
    path = authorize_device_code(options, context, echo, transport=fake.transport())
    assert path == tmp_path / "state" / "outlook-token.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "devicelogin" in shown[0]
    assert "RefreshToken" in path.read_text()
    conn = OutlookConnector(options, context, transport=fake.transport())
    try:
        assert not conn.busy([ref(MAILBOXES[0])], START, END).errors
    finally:
        conn.close()
    assert "user" in fake.tokens.values() and "app" not in fake.tokens.values()


def test_missing_token_cache_tells_to_sign_in(fake: FakeGraph, tmp_path: Path) -> None:
    options = fake.options(client_secret_env=None, token_cache_file="nowhere.json")
    with pytest.raises(AuthError, match="coachpass auth outlook"):
        OutlookConnector(options, ConnectorContext(base_dir=tmp_path), transport=fake.transport())


def test_authority_must_be_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    fake = FakeGraph(MAILBOXES)
    options = fake.options(authority_host="http://login.example.com")
    with pytest.raises(ConnectorUserError, match="https"):
        OutlookConnector(options, ConnectorContext(base_dir=tmp_path))


def test_check_reports_each_unreachable_mailbox(
    fake: FakeGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    fake.state.denied.add("seller1@example.com")
    refs = [ref(MAILBOXES[0]), ref(MAILBOXES[1]), ref("ghost@example.com")]
    findings = check(
        fake.options(), ConnectorContext(base_dir=tmp_path), refs, transport=fake.transport()
    )
    joined = "\n".join(str(f) for f in findings if f.level == "problem")
    assert "manager" not in joined
    assert "seller1@example.com" in joined and "ErrorAccessDenied" in joined
    assert "ghost@example.com" in joined


def test_check_with_bad_secret_is_one_clear_finding(
    fake: FakeGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "nope")
    findings = check(
        fake.options(),
        ConnectorContext(base_dir=tmp_path),
        [ref(MAILBOXES[0])],
        transport=fake.transport(),
    )
    assert len(findings) == 1 and "invalid_client" in str(findings[0])
