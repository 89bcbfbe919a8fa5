"""JSON logs, one object per line, with the service name and the request id on every record.

Clinical text must never reach a log: log ids and statuses, never notes or goal statements.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar

from aiokafka.errors import KafkaConnectionError, NodeNotReadyError, RequestTimedOutError
from pythonjsonlogger.json import JsonFormatter

from shared.tracing import current_ids

# The id of the request being handled: the gateway sets it at the edge (and forwards it as
# X-Request-ID), each service sets it from that header, so one request's lines can be joined
# across every process it touched.
current_request_id: ContextVar[str | None] = ContextVar("rapport_request_id", default=None)

# The X-Request-ID values accepted from a client (at the gateway) and logged (by each service):
# short tokens that cannot forge a log line or carry anything but an id.
REQUEST_ID_PATTERN = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def sane_request_id(value: bytes) -> str | None:
    """An X-Request-ID header value as a string when it has the accepted shape, else None."""
    return value.decode("ascii") if REQUEST_ID_PATTERN.fullmatch(value) else None


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to records logged while a request is being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


class TraceIdFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` to records logged inside a traced span."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = current_ids()
        if ids is not None and not hasattr(record, "trace_id"):
            record.trace_id, record.span_id = ids
        return True


class KafkaReconnectNoise(logging.Filter):
    """Drops aiokafka's lines about a broker it cannot reach, and only those.

    While a broker is down aiokafka logs every reconnect attempt, metadata refresh and fetch
    at ERROR, thousands of lines a minute (counted here with a producer and a consumer while
    their broker was down for about 30 s: 1,600 "Unable connect to node", 750 "Unable to
    update metadata", about 300 each of failed fetches, produce and coordinator requests).
    The outbox relay and the consumer report the outage themselves, once, at WARNING. A line
    is noise when its message is one of those and any error it carries is a connection
    failure; every other aiokafka error is kept.
    """

    MESSAGES = frozenset(
        {
            'Unable connect to "%s:%s": %s',
            "Unable connect to node with id %s: %s",
            "Unable to update metadata from %s",
            "Unable to request metadata from node with id %s: %r",
            "Failed fetch messages from %s: %s",
            "Failed fetch offsets from %s: %s",
            "Got error produce response: %s",
            "Group Coordinator Request failed: %s",
            "Heartbeat send request failed: %s. Will retry.",
            "Error sending %s to node %s [%s] -- marking coordinator dead",
            "Marking the coordinator dead (node %s)for group %s.",
        }
    )
    CONNECTION_ERRORS = (OSError, KafkaConnectionError, NodeNotReadyError, RequestTimedOutError)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka") or record.msg not in self.MESSAGES:
            return True
        arguments = record.args if isinstance(record.args, tuple) else ()
        errors = [a for a in arguments if isinstance(a, BaseException)]
        return not all(isinstance(e, self.CONNECTION_ERRORS) for e in errors)


class WebSocketFrames(logging.Filter):
    """Drops the websockets library's debug lines of frames and handshake headers.

    At DEBUG, websockets (and uvicorn through it) logs every frame with its payload and every
    handshake header: a signaling token, a chat message, a cookie. No level may let them
    through, so they are dropped by their format, whatever logger carries them.
    """

    FORMATS = frozenset({"< %s", "> %s", "< %s: %s", "> %s: %s"})

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.DEBUG and record.msg in self.FORMATS)


class QueryStringRedaction(logging.Filter):
    """Cuts the query string from the path in uvicorn's WebSocket handshake lines.

    uvicorn logs each handshake (``"WebSocket /v1/signal?…" [accepted]``) with the query
    string, where a client may have put a token; the path is kept, the rest dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.name == "uvicorn.error"
            and isinstance(record.msg, str)
            and record.msg.startswith('%s - "WebSocket %s"')
            and isinstance(record.args, tuple)
            and len(record.args) >= 2
        ):
            client, path, *rest = record.args
            if isinstance(path, str):
                record.args = (client, path.partition("?")[0], *rest)
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
    handler.addFilter(TraceIdFilter())
    handler.addFilter(QueryStringRedaction())
    handler.addFilter(WebSocketFrames())
    if level.upper() != "DEBUG":
        handler.addFilter(KafkaReconnectNoise())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own logging config (applied whenever a server runs with its default
    # ``log_config``) gives its loggers handlers that print the WebSocket handshake line with
    # its query string and stop propagation; route them through the filtered handler instead.
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # The app logs each request itself (shared.observability.RequestLog), without the query
    # string uvicorn's access log writes; with no handler to reach, uvicorn skips that log.
    logging.getLogger("uvicorn.access").propagate = False
    # httpx logs every request's full URL at INFO, query string included: a partner's webhook
    # URL may carry its own secret there. Its warnings and errors still come through.
    logging.getLogger("httpx").setLevel(logging.WARNING)
