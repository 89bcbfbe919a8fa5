"""A partner's webhook receiver for Rapport, small enough to copy into your own service.

What it does with each request (see README.md beside it):

1. verifies the Standard Webhooks signature: ``v1a`` (Ed25519) with the endpoint's public key
   (``whpk_...``), or ``v1`` (HMAC-SHA256) with its secret (``whsec_...``) through the
   ``standardwebhooks`` library, and refuses stale timestamps;
2. drops a message it has already applied (the ``webhook-id`` is the idempotency key: Rapport
   delivers at least once);
3. applies messages in each aggregate's order: the body's ``sequence`` counts an aggregate's
   messages to this endpoint 1, 2, 3... with no gap, so a number beyond the next one means
   something was missed (or is still being retried). The receiver then fetches what it missed
   from ``GET /v1/webhook-endpoints/{id}/messages?aggregate_id=...&after=...`` and applies it
   first; the late copies, when they come, are duplicates.

What the partner does with a message is its own ``on_message``; reading the client's FHIR
resources with a SMART backend-services token is in smart.py beside this file.

It depends on ``httpx``, ``cryptography``, ``standardwebhooks`` and ``starlette``; nothing
of Rapport's own code. State lives in memory here: keep it in your database, in the same
transaction as what you do with each message, to survive restarts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Reject messages whose webhook-timestamp is further than this from the local clock.
TOLERANCE_SECONDS = 5 * 60

# How the receiver gets a bearer token (scope webhooks:manage) for the messages API: a SMART
# backend service's ``SmartBackendClient.access_token`` (smart.py), or OAuth2 client
# credentials with the app's secret.
TokenSource = Callable[[], Awaitable[str]]


class InvalidSignatureError(Exception):
    """The request is not signed by Rapport with a key or secret this receiver trusts."""


def verify(
    headers: dict[str, str],
    body: bytes,
    *,
    public_keys: Sequence[str] = (),
    secrets: Sequence[str] = (),
    now: float | None = None,
) -> None:
    """Raise :class:`InvalidSignatureError` unless some trusted key or secret signed it.

    Several keys (or secrets) are accepted at once so a rotation needs no downtime: trust the
    new one next to the old one until the overlap ends.
    """
    headers = {k.lower(): v for k, v in headers.items()}
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (message_id and timestamp.isdigit() and signatures):
        raise InvalidSignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if abs((now or time.time()) - int(timestamp)) > TOLERANCE_SECONDS:
        raise InvalidSignatureError("webhook-timestamp is too far from now")
    signed = f"{message_id}.{timestamp}.".encode() + body
    for candidate in signatures.split(" "):
        version, _, signature = candidate.partition(",")
        if version != "v1a":
            continue
        for public_key in public_keys:
            try:
                key = Ed25519PublicKey.from_public_bytes(
                    base64.b64decode(public_key.removeprefix("whpk_"))
                )
                key.verify(base64.b64decode(signature), signed)
                return
            except (InvalidSignature, ValueError, binascii.Error):
                continue
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
            return
        except WebhookVerificationError:
            continue
    raise InvalidSignatureError("no signature verifies with a trusted key or secret")


@dataclass
class AppliedMessage:
    """One message the partner acted on, in the order it was acted on."""

    webhook_id: str
    aggregate_id: str
    sequence: int
    type: str
    data: dict[str, Any]
    # "webhook" when it came in a request, "fetched" when the receiver pulled it in to fill
    # a gap.
    via: str


@dataclass
class PartnerReceiver:
    """Verify, dedupe and order Rapport's webhooks; fetch what was missed.

    ``rapport_url`` is Rapport's public base URL (the gateway); ``endpoint_id`` the endpoint
    this receiver is registered as; ``public_keys`` (v1a) and/or ``secrets`` (v1) what it
    trusts; ``token`` fetches a bearer token for the messages API. ``on_message`` is where your
    own code goes: it is called once per message, in each aggregate's order.
    """

    rapport_url: str
    endpoint_id: str
    token: TokenSource
    public_keys: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    on_message: Callable[[AppliedMessage], Awaitable[None]] | None = None
    applied: list[AppliedMessage] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    last_sequence: dict[str, int] = field(default_factory=dict)
    gaps_filled: int = 0
    # Requests are applied one at a time: a retry arriving while a gap is being filled must
    # find the gap filled (and itself a duplicate), not slip in between.
    _applying: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def receive(self, headers: dict[str, str], body: bytes) -> int:
        """Handle one webhook request; the HTTP status to answer."""
        try:
            verify(headers, body, public_keys=self.public_keys, secrets=self.secrets)
        except InvalidSignatureError:
            return 401
        webhook_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
        message = json.loads(body)
        if "sequence" not in message:  # endpoint.test: in no aggregate's sequence
            self.seen_ids.add(webhook_id)
            return 204
        async with self._applying:
            await self._apply(webhook_id, message, via="webhook")
        return 204

    async def _apply(self, webhook_id: str, message: dict[str, Any], *, via: str) -> None:
        if webhook_id in self.seen_ids:
            return  # a retry or replay of something already applied
        aggregate, sequence = message["aggregate_id"], int(message["sequence"])
        last = self.last_sequence.get(aggregate, 0)
        if sequence <= last:
            self.seen_ids.add(webhook_id)  # filled in earlier from the messages API
            return
        # A fetched message is never a reason to fetch again: a number the API does not list
        # (a clinician revoked the app's access to it) stays a hole.
        if sequence > last + 1 and via == "webhook":
            await self.fill_gap(aggregate, after=last, before=sequence)
        self.seen_ids.add(webhook_id)
        self.last_sequence[aggregate] = sequence
        applied = AppliedMessage(
            webhook_id, aggregate, sequence, message["type"], message["data"], via
        )
        self.applied.append(applied)
        if self.on_message is not None:
            await self.on_message(applied)

    async def fill_gap(self, aggregate_id: str, *, after: int, before: int) -> None:
        """Fetch and apply the aggregate's messages numbered ``after`` + 1 to ``before`` - 1."""
        self.gaps_filled += 1
        async with httpx.AsyncClient(base_url=self.rapport_url, timeout=15) as http:
            response = await http.get(
                f"/v1/webhook-endpoints/{self.endpoint_id}/messages",
                params={"aggregate_id": aggregate_id, "after": after, "limit": before - after},
                headers={"Authorization": f"Bearer {await self.token()}"},
            )
            response.raise_for_status()
        for missed in response.json():
            if missed["sequence"] < before:
                await self._apply(missed["webhook_id"], missed["body"], via="fetched")

    def app(self, path: str = "/hooks/rapport") -> Starlette:
        """The receiver as an ASGI app, POST ``path``."""

        async def hook(request: Request) -> Response:
            status = await self.receive(dict(request.headers), await request.body())
            return Response(status_code=status)

        return Starlette(routes=[Route(path, hook, methods=["POST"])])
