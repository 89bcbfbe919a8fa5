"""HTTP handlers of the webhooks service: parse, call the service, return a schema."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from services.webhooks import service
from services.webhooks.destinations import DestinationPolicy
from services.webhooks.models import DeliveryStatus
from services.webhooks.schemas import (
    DeliveryView,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointView,
)
from shared.dependencies import SessionDep
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhook endpoints"])


def _destination_policy(request: Request) -> DestinationPolicy:
    policy: DestinationPolicy = request.app.state.destination_policy
    return policy


DestinationPolicyDep = Annotated[DestinationPolicy, Depends(_destination_policy)]


@router.post("", status_code=201)
async def register_endpoint(
    body: WebhookEndpointCreate,
    principal: CurrentPrincipal,
    destinations: DestinationPolicyDep,
    session: SessionDep,
) -> WebhookEndpointCreated:
    """Register an endpoint; the answer holds its signing secret, shown this once."""
    endpoint = await service.register_endpoint(
        session,
        principal,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        destinations=destinations,
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
