"""The STUN and TURN servers a participant's peer connection should use.

TURN credentials follow the "TURN REST API" that coturn implements with ``use-auth-secret``
(draft-uberti-behave-turn-rest-00): the username is ``<expiry as Unix time>:<user id>`` and the
credential is ``base64(HMAC-SHA1(shared secret, username))``. coturn recomputes the same HMAC
with the same secret and refuses the username once its expiry has passed, so signaling never
stores a credential and a leaked one is good only until it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.signaling.schemas import IceServer, IceServers


def turn_credential(secret: str, username: str) -> str:
    """coturn's credential for ``username``: base64 of HMAC-SHA1 keyed with the shared secret."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class IceServerDirectory:
    """The configured servers; none by default (host candidates only, fine on one network)."""

    stun_urls: Sequence[str] = ()
    turn_urls: Sequence[str] = ()
    turn_secret: str | None = None
    credential_lifetime: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.turn_urls and not self.turn_secret:
            raise ValueError("TURN servers need the shared secret their credentials derive from")

    def for_user(self, user_id: uuid.UUID, now: datetime) -> IceServers:
        """The servers for ``user_id``, with TURN credentials valid until now + lifetime."""
        expires_at = (now + self.credential_lifetime).replace(microsecond=0)
        servers: list[IceServer] = []
        if self.stun_urls:
            servers.append(IceServer(urls=list(self.stun_urls)))
        if self.turn_urls and self.turn_secret:
            username = f"{int(expires_at.timestamp())}:{user_id}"
            servers.append(
                IceServer(
                    urls=list(self.turn_urls),
                    username=username,
                    credential=turn_credential(self.turn_secret, username),
                )
            )
        return IceServers(ice_servers=servers, expires_at=expires_at)
