"""Identity's internal API as the notifications service sees it: contacts and links.

Addresses and tokens are fetched when a message is written and never stored here, so the sent
log holds ids and times only. Identity being unreachable is a transient failure (the message
waits and is retried); a link that was used or expired meanwhile means nothing is left to send.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import httpx

from services.notifications.errors import NoLongerDeliverable, TransientFailure


@dataclass(frozen=True)
class Contact:
    user_id: uuid.UUID
    email: str
    display_name: str
    time_zone: str
    role: str
    active: bool


@dataclass(frozen=True)
class DeliverableLink:
    email: str
    token: str
    expires_at: datetime
    display_name: str | None = None
    inviter_display_name: str | None = None


class IdentityContacts:
    """Calls identity's ``/internal/v1`` with the service key."""

    def __init__(self, client: httpx.AsyncClient, *, base_url: str, service_key: str) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._headers = {"authorization": f"Bearer {service_key}"}

    async def _call(self, method: str, path: str) -> dict[str, object]:
        try:
            response = await self._client.request(
                method, f"{self._base}/internal/v1{path}", headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise TransientFailure(f"identity unreachable ({type(exc).__name__})") from exc
        if response.status_code in (404, 410):
            raise NoLongerDeliverable(f"identity answered {response.status_code}")
        if response.status_code != 200:
            # 401/503 (a key mismatch or none configured) are an operator's fix: keep retrying
            # on the schedule, so the messages go out once it is fixed, or fail visibly.
            raise TransientFailure(f"identity answered {response.status_code}")
        body: dict[str, object] = response.json()
        return body

    async def contact(self, user_id: uuid.UUID) -> Contact:
        body = await self._call("GET", f"/contacts/{user_id}")
        return Contact(
            user_id=uuid.UUID(str(body["user_id"])),
            email=str(body["email"]),
            display_name=str(body["display_name"]),
            time_zone=str(body["time_zone"]),
            role=str(body["role"]),
            active=bool(body["active"]),
        )

    async def reset_link(self, reset_id: uuid.UUID) -> DeliverableLink:
        return self._link(await self._call("POST", f"/password-resets/{reset_id}/link"))

    async def invitation_link(self, invitation_id: uuid.UUID) -> DeliverableLink:
        return self._link(await self._call("POST", f"/invitations/{invitation_id}/link"))

    @staticmethod
    def _link(body: dict[str, object]) -> DeliverableLink:
        return DeliverableLink(
            email=str(body["email"]),
            token=str(body["token"]),
            expires_at=datetime.fromisoformat(str(body["expires_at"])),
            display_name=str(body["display_name"]) if body.get("display_name") else None,
            inviter_display_name=(
                str(body["inviter_display_name"]) if body.get("inviter_display_name") else None
            ),
        )
