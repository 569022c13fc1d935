"""An organisation with the manager's page, and reading its e-mails back."""

from __future__ import annotations

import email
import itertools
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.orgs import write_org

KEY = "test-signing-key-" + "x" * 40
LINK = re.compile(r"https?://[^\s<>\"]+/m/[A-Za-z0-9_.-]+")


def web_org(
    folder: Path,
    base_url: str,
    *,
    sellers: int = 3,
    config: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """`write_org` plus a `web:` block (`extra` in it) whose key is in a 0600 file;
    `config`: more top-level keys."""
    key = folder / "signing.key"
    folder.mkdir(parents=True, exist_ok=True)
    key.write_text(KEY)
    key.chmod(0o600)
    web = {"public_base_url": base_url, "signing_key_file": "signing.key", **extra}
    return write_org(folder, sellers=sellers, extra={"web": web, **(config or {})})


def notices(outbox: Path, kind: str | None = None) -> list[EmailMessage]:
    found = []
    for path in sorted(outbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        if msg["X-Coachpass-Notice"] and (kind is None or msg["X-Coachpass-Notice"] == kind):
            found.append(msg)
    return found


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def links_by_seller(msg: EmailMessage) -> dict[str, str]:
    """Seller name -> link, from a notice's plain text (`- Name, when` then the link)."""
    out: dict[str, str] = {}
    lines = text_of(msg).splitlines()
    for line, following in itertools.pairwise(lines):
        match = LINK.search(following)
        if line.startswith("- ") and match:
            out[line[2:].split(",")[0]] = match.group(0)
    return out
