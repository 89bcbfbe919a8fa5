"""Every service wires its consumed events the same way: ``events.build_router()``, called by
the app factory, and no router filled as a side effect of importing a module."""

from __future__ import annotations

import importlib

import pytest

from shared.events.kafka import EventRouter

SERVICES = ["identity", "records", "signaling", "webhooks", "notifications"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_builds_its_router_and_registers_nothing_at_import(service: str) -> None:
    events = importlib.import_module(f"services.{service}.events")

    assert not [name for name, value in vars(events).items() if isinstance(value, EventRouter)]
    first, second = events.build_router(), events.build_router()
    assert first is not second
    assert first.topics == second.topics
