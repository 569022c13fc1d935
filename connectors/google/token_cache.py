"""Google access tokens kept between processes: the `token_cache_file` option.

Why: with domain-wide delegation every organiser has a token of their own, valid one
hour, and each CLI command (`plan`, `book`, `reconcile`, ...) is a new process. In
memory alone, every run asks Google's token endpoint once per organiser it touches;
with this file, a token is fetched at most once per organiser (and set of scopes) in
its hour, whichever process needs it.

The file (JSON, mode 0600) holds access tokens and their expiry, keyed by the service
account's client id, the impersonated user and the scopes; never the key file's
content (the private key stays where the admin put it):

    {"version": 1, "tokens": {"<client id>|<user>|<scope> <scope>":
                              {"token": "ya29...", "expiry": "2031-03-01T10:00:00+00:00"}}}

- Readers take no lock: the file is only ever replaced whole (`os.replace`), so a
  reader sees the old file or the new one.
- Writers read, merge and replace under an exclusive `flock` on `<file>.lock`, so two
  processes that fetched tokens at once both keep theirs. The fetch itself happens
  outside the lock (700 organisers' fetches must not queue behind one another).
- A token is handed out only while more than EXPIRY_MARGIN of it is left, so a run
  never starts with a token about to lapse; expired ones are pruned on every write.
- A token the API refused (401) is dropped from the file and fetched again
  (`CachedCredentials.refresh`).
- Refused: a file other users may read (ConnectorUserError naming it and the chmod).
  Forgiven with one warning each: a corrupt file (treated as empty, rewritten on the
  next write) and a file that cannot be written (tokens stay in this process's
  memory): the cache saves requests, it is never a reason for booking to fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.auth import credentials as google_credentials

from connectors.base import ConnectorUserError
from connectors.flock import flock_within

log = logging.getLogger(__name__)

VERSION = 1
#: A cached token is handed out only with more than this left. Above google-auth's
#: own refresh threshold (3 min 45 s), so a token from the file is never one that
#: google-auth would refresh at once.
EXPIRY_MARGIN = timedelta(minutes=5)
#: How long a writer waits for the file lock before it gives up writing (the tokens
#: then stay in memory): a frozen process must not hang every other one.
LOCK_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class CachedToken:
    token: str
    expiry: datetime  # timezone-aware, UTC

    def usable(self, now: datetime) -> bool:
        return self.expiry - now > EXPIRY_MARGIN


def cache_key(account: str, subject: str | None, scopes: Any) -> str:
    """`<client id>|<user>|<sorted scopes>`: a token is reused only for exactly the
    identity and scopes it was issued for (a narrowed token never stands in for a
    wide one, nor the reverse)."""
    return f"{account}|{subject or '-'}|{' '.join(sorted(scopes or ()))}"


def refuse_if_shared(path: Path, mode: int) -> None:
    """A token file others may read would hand them every organiser's calendar."""
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConnectorUserError(
            f"google connector: token_cache_file {path} is open to other users "
            f"(mode {stat.S_IMODE(mode):04o}) and holds access tokens to every "
            f"organiser's calendar: run chmod 600 {path}"
        )


class TokenCache:
    """The token file of one connector (see the module docstring). Thread-safe."""

    def __init__(self, path: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        # Token lifetimes are real time: never the pinned clock a CLI run may use.
        self.clock = clock or (lambda: datetime.now(UTC))
        self._mutex = threading.Lock()
        self._entries: dict[str, CachedToken] = {}
        # inode, mtime, size and mode of the file last read: a chmod is seen too.
        self._stamp: tuple[int, ...] | None = None
        self._puts: dict[str, CachedToken] = {}
        self._drops: dict[str, str] = {}  # key -> the refused token
        self._flushing = False
        self._warned: set[str] = set()
        if path.is_dir():
            raise ConnectorUserError(
                f"google connector: token_cache_file {path} is a folder: name a file in it"
            )
        with contextlib.suppress(OSError):  # missing, or unreadable: said on first read
            refuse_if_shared(path, path.stat().st_mode)

    # -- reading ----------------------------------------------------------------------

    def get(self, key: str) -> CachedToken | None:
        """The token for `key` if the file has one with enough time left."""
        with self._mutex:
            self._refresh_view()
            entry = self._entries.get(key)
        return entry if entry is not None and entry.usable(self.clock()) else None

    def count(self) -> int:
        """Live tokens in the file (for `connectors check`)."""
        now = self.clock()
        with self._mutex:
            self._refresh_view()
            return sum(e.usable(now) for e in self._entries.values())

    def unwritable(self) -> str | None:
        """Why this process could not write the file, or None (for checks)."""
        try:
            with self._locked():
                if not os.access(self.path.parent, os.W_OK):
                    raise PermissionError
        except (OSError, TimeoutError) as exc:
            return f"cannot write {self.path} ({type(exc).__name__})"
        return None

    def _refresh_view(self) -> None:
        """Re-read the file if it changed since the last read (caller holds _mutex):
        700 organisers' look-ups cost one parse, not 700."""
        try:
            st = self.path.stat()
        except (FileNotFoundError, NotADirectoryError):
            # Not written yet (a write says why it cannot be, once).
            self._entries, self._stamp = {}, None
            return
        except OSError as exc:
            self._warn("read", f"cannot read token cache {self.path} ({type(exc).__name__})")
            self._entries, self._stamp = {}, None
            return
        if _stamp_of(st) != self._stamp:
            self._entries, self._stamp = self._load(), _stamp_of(st)

    def _load(self) -> dict[str, CachedToken]:
        try:
            with open(self.path, encoding="utf-8") as f:
                refuse_if_shared(self.path, os.fstat(f.fileno()).st_mode)
                data = json.load(f)
            return _entries_of(data)
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # Never the text itself in the message: it may hold tokens.
            self._warn(
                "corrupt",
                f"token cache {self.path} is not a token cache ({type(exc).__name__}): "
                "ignored, and rewritten with the next token fetched",
            )
            return {}
        except OSError as exc:
            self._warn("read", f"cannot read token cache {self.path} ({type(exc).__name__})")
            return {}

    # -- writing ----------------------------------------------------------------------

    def put(self, key: str, entry: CachedToken) -> None:
        with self._mutex:
            self._puts[key] = entry
            self._entries[key] = entry
        self._flush()

    def drop(self, key: str, refused: str) -> None:
        """Forget `refused` (the API answered 401 to it), unless the file already
        holds a newer token for `key` (another process fetched one meanwhile)."""
        with self._mutex:
            self._drops[key] = refused
            if key in self._entries and self._entries[key].token == refused:
                del self._entries[key]
        self._flush()

    def _flush(self) -> None:
        """Write what is pending. Threads that fetch at once share one writer: the
        one writing takes what the others left while it held the lock."""
        with self._mutex:
            if self._flushing:
                return
            self._flushing = True
        try:
            while True:
                with self._mutex:
                    puts, drops = self._puts, self._drops
                    self._puts, self._drops = {}, {}
                    if not puts and not drops:
                        return
                self._write(puts, drops)
        finally:
            with self._mutex:
                self._flushing = False

    def _write(self, puts: dict[str, CachedToken], drops: dict[str, str]) -> None:
        if "write" in self._warned:
            return  # said once: this process keeps its tokens in memory
        try:
            with self._locked():
                now = self.clock()
                current = self._load()
                for key, refused in drops.items():
                    if key in current and current[key].token == refused:
                        del current[key]
                current.update(puts)
                kept = {k: e for k, e in current.items() if e.expiry > now}
                write_private(self.path, _text_of(kept))
                st = self.path.stat()
            with self._mutex:
                # What other threads put meanwhile is written by the next round.
                self._entries = {**kept, **self._puts}
                self._stamp = _stamp_of(st)
        except (OSError, TimeoutError) as exc:
            self._warn(
                "write",
                f"cannot write token cache {self.path} ({type(exc).__name__}): this run "
                "keeps its Google tokens in memory; make the folder writable by the "
                "user Coachpass runs as, or change token_cache_file",
            )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if not flock_within(fd, LOCK_WAIT_SECONDS, 0.1):
                raise TimeoutError(f"lock {self.lock_path} held too long")
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _warn(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning("google connector: %s", message)


class CachedCredentials(google_credentials.Credentials):
    """One identity's credentials (a delegated service account with its scopes),
    taking tokens from the TokenCache before asking Google.

    google-auth calls `refresh` in two cases: the token is missing or about to expire
    (`before_request`), or the API refused a token that still looked valid (401:
    AuthorizedHttp and batch requests). The first looks in the file; the second
    drops the refused token from it and fetches a new one."""

    def __init__(self, inner: Any, cache: TokenCache, key: str) -> None:
        super().__init__()
        self._inner = inner
        self._cache = cache
        self._key = key
        self._refreshing = threading.Lock()

    @property
    def scopes(self) -> Any:
        return self._inner.scopes

    def refresh(self, request: Any) -> None:
        seen, refused = self.token, self.valid
        with self._refreshing:
            if self.token != seen and self.valid:
                return  # another thread of the pool refreshed it meanwhile
            entry = None
            if refused and seen:
                self._cache.drop(self._key, seen)
            else:
                entry = self._cache.get(self._key)
            if entry is None:
                self._inner.refresh(request)
                entry = CachedToken(self._inner.token, _aware(self._inner.expiry))
                self._cache.put(self._key, entry)
            # google-auth compares expiry with a naive UTC "now".
            self.token, self.expiry = entry.token, entry.expiry.replace(tzinfo=None)


def _stamp_of(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode)


def _aware(expiry: datetime | None) -> datetime:
    """google-auth's expiry (naive UTC) as an aware datetime; a token without one is
    kept for an hour, the lifetime Google gives every access token."""
    if expiry is None:
        return datetime.now(UTC) + timedelta(hours=1)
    return expiry.replace(tzinfo=UTC) if expiry.tzinfo is None else expiry.astimezone(UTC)


def _entries_of(data: Any) -> dict[str, CachedToken]:
    if data.get("version") != VERSION:
        raise ValueError("unknown version")
    entries: dict[str, CachedToken] = {}
    for key, item in data["tokens"].items():
        token, expiry = item["token"], datetime.fromisoformat(item["expiry"])
        if not isinstance(token, str) or expiry.tzinfo is None:
            raise TypeError("malformed entry")
        entries[str(key)] = CachedToken(token, expiry.astimezone(UTC))
    return entries


def _text_of(entries: dict[str, CachedToken]) -> str:
    tokens = {
        key: {"token": e.token, "expiry": e.expiry.isoformat()}
        for key, e in sorted(entries.items())
    }
    return json.dumps({"version": VERSION, "tokens": tokens}, indent=1) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write `text` readable by the owner only (0600), replacing the file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask cannot widen it, and an old file is narrowed
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    os.replace(temp, path)
