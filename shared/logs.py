"""Log lines as JSON on stdout (readable on a terminal): one object per line with its extras.

``log.info("batch", extra={"topic": ..., "events": 12})`` becomes
``{"ts": "...", "level": "info", "logger": "listener.subscriber", "event": "batch",
"topic": "...", "events": 12}``. Callers never pass secrets; the formatter adds nothing but
the standard fields. Every process (listener, workers, beat) logs through this module.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, event, the extras, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    """A readable line for a person at a terminal: time, level, event, then key=value extras."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        line = f"{when} {record.levelname:<7} {record.name}: {record.getMessage()} {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line.rstrip()


def configure_logging(
    level: str = "INFO", stream: TextIO | None = None, *, quiet: Iterable[str] = ()
) -> None:
    """Send every log record to stdout, as JSON unless stdout is a terminal; `quiet` loggers
    log warnings and above only, so library chatter does not bury the canonical lines."""
    out = stream or sys.stdout
    handler = logging.StreamHandler(out)
    handler.setFormatter(ConsoleFormatter() if out.isatty() else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in quiet:
        logging.getLogger(noisy).setLevel(logging.WARNING)
