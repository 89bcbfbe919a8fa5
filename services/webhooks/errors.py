"""The webhooks service's errors (subclasses of the shared error tree)."""

from __future__ import annotations

from shared.destinations import DestinationRefused
from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound

__all__ = [
    "ClinicianAccessRevoked",
    "DeliveryInProgress",
    "DeliveryNotFound",
    "DestinationRefused",
    "EndpointNotFound",
    "UnknownEventType",
]


class UnknownEventType(InvalidRequest):
    """A subscription names an event type (or pattern) that matches nothing in the catalog."""


class EndpointNotFound(NotFound):
    """No such webhook endpoint, or it is not the caller's."""


class DeliveryNotFound(NotFound):
    """No such delivery to this endpoint."""


class DeliveryInProgress(Conflict):
    """A replay of a delivery that is still pending (it is being retried already)."""


class ClinicianAccessRevoked(Forbidden):
    """A replay of a message about a clinician who no longer grants the partner app access."""


class AsymmetricSigningOff(Conflict):
    """A signing key rotation on an endpoint that is not offered "v1a" signatures."""
