"""JSON logs, one object per line, with the service name on every record.

Clinical text must never reach a log: log ids and statuses, never notes or goal statements.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record to stderr as JSON; safe to call more than once."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every reconnect attempt at ERROR while a broker is down, flooding the log;
    # the outbox relay and the consumer report that state themselves, once, at WARNING.
    if level.upper() != "DEBUG":
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
