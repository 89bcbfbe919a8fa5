"""Identity's event entry points.

Identity publishes ``UserRegistered`` (through the outbox, from ``accounts``) and consumes
no events yet. The router exists so that adding a consumed event is a handler here plus
nothing else: ``create_app`` starts an ``EventConsumer`` as soon as the router has topics.
"""

from __future__ import annotations

from shared.events.kafka import EventRouter


def build_router() -> EventRouter:
    """The handlers for events identity consumes (none yet)."""
    return EventRouter()
