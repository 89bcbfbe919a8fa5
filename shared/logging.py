"""JSON logs, one object per line, with the service name and the request id on every record.

Clinical text must never reach a log: log ids and statuses, never notes or goal statements.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

# The id of the request being handled: the gateway sets it at the edge (and forwards it as
# X-Request-ID), each service sets it from that header, so one request's lines can be joined
# across every process it touched.
current_request_id: ContextVar[str | None] = ContextVar("rapport_request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to records logged while a request is being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


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
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every reconnect attempt at ERROR while a broker is down, flooding the log;
    # the outbox relay and the consumer report that state themselves, once, at WARNING.
    if level.upper() != "DEBUG":
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
