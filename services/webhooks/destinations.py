"""Where webhooks may be sent: the shared server-side request forgery guard."""

from shared.destinations import (
    DestinationPolicy,
    DestinationRefused,
    IPAddress,
    PinnedDestination,
    Resolver,
    is_public,
    parse_destination,
)

__all__ = [
    "DestinationPolicy",
    "DestinationRefused",
    "IPAddress",
    "PinnedDestination",
    "Resolver",
    "is_public",
    "parse_destination",
]
