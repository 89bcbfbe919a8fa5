"""HTTP handlers of the webhooks service: parse, call the service, return a schema."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from services.webhooks import service
from services.webhooks.destinations import DestinationPolicy
from services.webhooks.errors import AsymmetricSigningOff, EndpointNotFound
from services.webhooks.models import DeliveryStatus
from services.webhooks.schemas import (
    DeliveryView,
    ReplayRequest,
    ReplayResult,
    SecretRotation,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointUpdate,
    WebhookEndpointView,
    WebhookMessage,
)
from shared.dependencies import SessionDep
from shared.errors import InvalidRequest
from shared.openapi import error_responses
from shared.secret_box import SecretBox
from shared.time_formats import IsoDateTime
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhook endpoints"])


def _destination_policy(request: Request) -> DestinationPolicy:
    policy: DestinationPolicy = request.app.state.destination_policy
    return policy


DestinationPolicyDep = Annotated[DestinationPolicy, Depends(_destination_policy)]


def _secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


SecretBoxDep = Annotated[SecretBox, Depends(_secret_box)]


@router.post("", status_code=201)
async def register_endpoint(
    body: WebhookEndpointCreate,
    principal: CurrentPrincipal,
    destinations: DestinationPolicyDep,
    box: SecretBoxDep,
    session: SessionDep,
) -> WebhookEndpointCreated:
    """Register an endpoint; the answer holds its signing secret, shown this once (and its
    public key, when it is offered "v1a" signatures)."""
    endpoint = await service.register_endpoint(
        session,
        principal,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        destinations=destinations,
        signature_schemes=body.signature_schemes,
        box=box,
    )
    return WebhookEndpointCreated.of(endpoint)


@router.get("")
async def list_endpoints(
    principal: CurrentPrincipal, session: SessionDep
) -> list[WebhookEndpointView]:
    """The caller's endpoints."""
    endpoints = await service.endpoints_of(session, principal)
    return [WebhookEndpointView.of(e) for e in endpoints]


@router.get("/{endpoint_id}")
async def get_endpoint(
    endpoint_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> WebhookEndpointView:
    """One of the caller's endpoints."""
    return WebhookEndpointView.of(await service.endpoint_for(session, principal, endpoint_id))


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(
    endpoint_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> Response:
    """Stop sending to an endpoint; pending deliveries to it fail, the log stays."""
    await service.delete_endpoint(session, principal, endpoint_id)
    return Response(status_code=204)


@router.get("/{endpoint_id}/deliveries")
async def list_deliveries(
    endpoint_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeliveryView]:
    """An endpoint's most recent deliveries, newest first, each with its attempts."""
    records = await service.delivery_log(
        session, principal, endpoint_id, status=status, limit=limit
    )
    return [DeliveryView.of(r.delivery, r.attempts) for r in records]


@router.get("/{endpoint_id}/deliveries/{delivery_id}")
async def get_delivery(
    endpoint_id: uuid.UUID, delivery_id: str, principal: CurrentPrincipal, session: SessionDep
) -> DeliveryView:
    """One message (by its webhook-id) with every attempt."""
    record = await service.delivery_record(session, principal, endpoint_id, delivery_id)
    return DeliveryView.of(record.delivery, record.attempts)


@router.patch("/{endpoint_id}")
async def update_endpoint(
    endpoint_id: uuid.UUID,
    body: WebhookEndpointUpdate,
    principal: CurrentPrincipal,
    destinations: DestinationPolicyDep,
    box: SecretBoxDep,
    session: SessionDep,
) -> WebhookEndpointView:
    """Change an endpoint's URL, event types, description or signature schemes."""
    endpoint = await service.update_endpoint(
        session,
        principal,
        endpoint_id,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        destinations=destinations,
        signature_schemes=body.signature_schemes,
        box=box,
    )
    return WebhookEndpointView.of(endpoint)


@router.post("/{endpoint_id}/disable")
async def disable_endpoint(
    endpoint_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> WebhookEndpointView:
    """Stop sending to an endpoint for now; its pending messages, and every new one, are kept
    until it is enabled."""
    endpoint = await service.set_endpoint_enabled(session, principal, endpoint_id, enabled=False)
    return WebhookEndpointView.of(endpoint)


@router.post("/{endpoint_id}/enable")
async def enable_endpoint(
    endpoint_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> WebhookEndpointView:
    """Resume sending to an endpoint (also after it was disabled for failing or 410): every
    message kept meanwhile is sent at once, oldest first."""
    endpoint = await service.set_endpoint_enabled(session, principal, endpoint_id, enabled=True)
    return WebhookEndpointView.of(endpoint)


@router.post("/{endpoint_id}/rotate-secret")
async def rotate_secret(
    endpoint_id: uuid.UUID,
    principal: CurrentPrincipal,
    request: Request,
    session: SessionDep,
    body: SecretRotation | None = None,
) -> WebhookEndpointCreated:
    """A new signing secret, shown this once; the old one keeps signing during the overlap."""
    overlap: timedelta = request.app.state.secret_rotation_overlap
    if body is not None and body.overlap_seconds is not None:
        overlap = timedelta(seconds=body.overlap_seconds)
    endpoint = await service.rotate_secret(session, principal, endpoint_id, overlap=overlap)
    return WebhookEndpointCreated.of(endpoint)


@router.post(
    "/{endpoint_id}/rotate-signing-key",
    responses=error_responses(EndpointNotFound, AsymmetricSigningOff),
)
async def rotate_signing_key(
    endpoint_id: uuid.UUID,
    principal: CurrentPrincipal,
    request: Request,
    box: SecretBoxDep,
    session: SessionDep,
    body: SecretRotation | None = None,
) -> WebhookEndpointView:
    """A new Ed25519 key pair for "v1a" signatures; the answer publishes the new public key.
    The previous private key keeps signing (a second "v1a" signature) during the overlap."""
    overlap: timedelta = request.app.state.secret_rotation_overlap
    if body is not None and body.overlap_seconds is not None:
        overlap = timedelta(seconds=body.overlap_seconds)
    endpoint = await service.rotate_signing_key(
        session, principal, endpoint_id, overlap=overlap, box=box
    )
    return WebhookEndpointView.of(endpoint)


@router.get("/{endpoint_id}/messages", responses=error_responses(EndpointNotFound, InvalidRequest))
async def list_messages(
    endpoint_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    aggregate_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="The aggregate (a body's aggregate_id) whose messages to list.",
        ),
    ] = None,
    after: Annotated[
        int,
        Query(ge=0, description="With aggregate_id: list the messages after this sequence."),
    ] = 0,
    since: Annotated[
        IsoDateTime | None,
        Query(description="Without aggregate_id: every message created at or after this time."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[WebhookMessage]:
    """Messages sent (or being sent) to the endpoint, in order, with their exact bodies: one
    aggregate's after a sequence number (gap-filling), or all since a time (recovery)."""
    messages = await service.messages_since(
        session,
        principal,
        endpoint_id,
        aggregate_id=aggregate_id,
        after=after,
        since=since,
        limit=limit,
    )
    return [WebhookMessage.of(m) for m in messages]


@router.post("/{endpoint_id}/deliveries/{delivery_id}/replay", status_code=202)
async def replay_delivery(
    endpoint_id: uuid.UUID, delivery_id: str, principal: CurrentPrincipal, session: SessionDep
) -> DeliveryView:
    """Send a delivered or failed message again, under the same webhook-id."""
    delivery = await service.replay_delivery(session, principal, endpoint_id, delivery_id)
    return DeliveryView.of(delivery, [])


@router.post("/{endpoint_id}/replay-failed", status_code=202)
async def replay_failed(
    endpoint_id: uuid.UUID, body: ReplayRequest, principal: CurrentPrincipal, session: SessionDep
) -> ReplayResult:
    """Send again every failed message created since ``since``."""
    deliveries = await service.replay_failed_since(session, principal, endpoint_id, body.since)
    return ReplayResult(replayed=[d.id for d in deliveries])


@router.post("/{endpoint_id}/test", status_code=202)
async def send_test_event(
    endpoint_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> DeliveryView:
    """Queue a test message to the endpoint; follow it in the delivery log."""
    delivery = await service.send_test_event(session, principal, endpoint_id)
    return DeliveryView.of(delivery, [])
