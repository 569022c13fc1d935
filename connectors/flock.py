"""An exclusive `flock` that gives up after a while, shared by the file locks of the
local calendars and of Google's token cache.

A process that died released its lock with its file descriptors; one that is alive
but frozen (stopped, swapped out, a suspended VM) must not hang the others for ever,
so the wait is bounded and the caller says what "gave up" means for it.
"""

from __future__ import annotations

import fcntl
import time


def flock_within(fd: int, seconds: float, max_pause: float) -> bool:
    """Take an exclusive lock on `fd`, polling with growing pauses (at most
    `max_pause`); False when it was still held after `seconds`."""
    deadline = time.monotonic() + seconds
    pause = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, max_pause)
