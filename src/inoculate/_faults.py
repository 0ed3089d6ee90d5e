"""Fault injection for crash tests: `INOCULATE_CRASH_AT=<point>[:<n>]` SIGKILLs the process at the
n-th time (default 1st) execution reaches `crash_point(<point>)`.

Named points let tests kill a run at an exact place (mid-training, between generation batches,
while writing the report) instead of racing a timer. Without the variable this is a no-op.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    target = os.environ.get("INOCULATE_CRASH_AT")
    if not target:
        return
    point, _, count = target.partition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
