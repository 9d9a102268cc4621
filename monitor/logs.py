"""Logging: one line per event, ``key=value`` fields (or one JSON object), to stderr.

Owns the format and a helper that keeps every event to one line. Secrets never reach it:
callers pass digest ids and redacted hosts, never webhook URLs or keys.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

log = logging.getLogger("monitor")


class _Formatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]  # UTC timestamps

    def __init__(self) -> None:
        super().__init__("%(asctime)sZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event and the event's fields, typed as given
    (numbers stay numbers). Records from other libraries carry ``logger`` and ``message``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out["event"] = getattr(record, "event", record.getMessage())
            for k, v in fields.items():
                out.setdefault(k, v if isinstance(v, int | float | bool) else str(v))
        else:
            out["logger"] = record.name
            out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _Formatter())
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
        kept = {k: v for k, v in fields.items() if v is not None}
        parts = [name, *(f"{k}={_value(v)}" for k, v in kept.items())]
        log.log(level, " ".join(parts), extra={"event": name, "fields": kept})
