"""Logging: one line per event, ``key=value`` fields, to stderr.

Owns the format and a helper that keeps every event to one line. Secrets never reach it:
callers pass digest ids and redacted hosts, never webhook URLs or keys.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

log = logging.getLogger("monitor")


class _Formatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]  # UTC timestamps

    def __init__(self) -> None:
        super().__init__("%(asctime)sZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    log.setLevel(level.upper())
    # APScheduler logs every job run at INFO; ours already say what happened.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _value(v: Any) -> str:
    s = str(v).replace("\n", " ").replace("\r", " ")
    if s == "" or any(c in s for c in ' ="'):
        s = '"' + s.replace('"', "'") + '"'
    return s


def event(level: int, name: str, **fields: Any) -> None:
    """Log ``name key=value ...`` on one line."""
    if log.isEnabledFor(level):
        parts = [name, *(f"{k}={_value(v)}" for k, v in fields.items() if v is not None)]
        log.log(level, " ".join(parts))
