"""Errors the notifications service raises on purpose.

Two families: what a channel or identity reports about one message (:class:`DeliveryFailure`,
never seen by an HTTP caller), and the shared error tree for the API.
"""

from __future__ import annotations

from shared.errors import InvalidRequest, NotFound


class DeliveryFailure(Exception):
    """A letter did not go out; ``reason`` is safe to store (a code and a class, no address)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:500]


class TransientFailure(DeliveryFailure):
    """Worth another attempt later: a server down or busy (4xx), identity unreachable."""


class PermanentFailure(DeliveryFailure):
    """Another attempt would be refused the same way (an SMTP 5xx, nobody to send to)."""


class NoLongerDeliverable(DeliveryFailure):
    """Nothing left to send: the person or link is gone, used or expired."""


class InvalidUnsubscribeLink(InvalidRequest):
    """An unsubscribe token that is malformed or not signed by this service."""

    def __init__(self) -> None:
        super().__init__("this unsubscribe link is not valid")


class PreferencesNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("no notification preferences for this account")


class UnknownLanguage(InvalidRequest):
    def __init__(self, language: str, known: tuple[str, ...]) -> None:
        super().__init__(f"language {language!r} is not one of {', '.join(known)}")


class UnknownClinic(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"no clinic named {name!r}")
