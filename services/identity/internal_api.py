"""Identity's internal API: what the notifications service asks for when it sends an email.

Served under ``/internal/``, which the gateway never routes, and only to a caller presenting the
deployment's internal service key (shared.service_key). Answers are never cached.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from services.identity import notices, schemas
from services.identity.errors import LinkNoLongerValid, UserNotFound
from services.identity.secret_box import SecretBox
from shared.dependencies import SessionDep
from shared.errors import ServiceUnavailable, Unauthorized
from shared.openapi import error_responses
from shared.service_key import verify_bearer


def _caller_is_notifications(
    request: Request, response: Response, authorization: Annotated[str | None, Header()] = None
) -> None:
    verify_bearer(authorization, request.app.state.notifications_service_key)
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(
    prefix="/internal/v1",
    tags=["internal"],
    dependencies=[Depends(_caller_is_notifications)],
    responses=error_responses(Unauthorized, ServiceUnavailable),
)


def _box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.identity.tokens.keyring.box
    return box


BoxDep = Annotated[SecretBox, Depends(_box)]


@router.get("/contacts/{user_id}", responses=error_responses(UserNotFound))
async def contact(user_id: uuid.UUID, session: SessionDep) -> schemas.Contact:
    """Where to write to one account, and in which time zone its dates are shown."""
    user = await notices.contact(session, user_id)
    return schemas.Contact.model_validate(
        {
            "user_id": user.id,
            "email": user.email,
            "display_name": user.display_name,
            "time_zone": user.time_zone,
            "role": user.role,
            "active": user.is_active,
        }
    )


@router.post(
    "/password-resets/{reset_id}/link", responses=error_responses(UserNotFound, LinkNoLongerValid)
)
async def reset_link(
    reset_id: uuid.UUID, session: SessionDep, box: BoxDep
) -> schemas.DeliverableLink:
    """The token of a pending reset request, to email to its account (410 once used)."""
    link = await notices.reset_link(session, box, reset_id)
    assert link.user is not None
    return schemas.DeliverableLink(
        email=link.email,
        token=link.token,
        expires_at=link.expires_at,
        user_id=link.user.id,
        display_name=link.user.display_name,
    )


@router.post(
    "/invitations/{invitation_id}/link",
    responses=error_responses(UserNotFound, LinkNoLongerValid),
)
async def invitation_link(
    invitation_id: uuid.UUID, session: SessionDep, box: BoxDep
) -> schemas.DeliverableLink:
    """The token of a pending invitation, to email to the invited address (410 once used)."""
    link = await notices.invitation_link(session, box, invitation_id)
    return schemas.DeliverableLink(
        email=link.email,
        token=link.token,
        expires_at=link.expires_at,
        inviter_display_name=link.inviter.display_name if link.inviter else None,
    )
