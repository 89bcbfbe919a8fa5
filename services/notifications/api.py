"""HTTP handlers of the notifications service: parse, call the service, return a schema."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from services.notifications import service
from services.notifications.errors import InvalidUnsubscribeLink, UnknownClinic, UnknownLanguage
from services.notifications.schemas import (
    FailureView,
    PreferencesChange,
    PreferencesView,
    Unsubscribed,
)
from services.notifications.settings import NotificationsSettings
from shared.dependencies import SessionDep
from shared.errors import Forbidden, InvalidRequest
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])

TokenQuery = Annotated[str, Query(min_length=10, max_length=200, description="from the email")]


def _unsubscribe_key(request: Request) -> bytes:
    key: bytes = request.app.state.unsubscribe_key
    return key


UnsubscribeKeyDep = Annotated[bytes, Depends(_unsubscribe_key)]


@router.get("/preferences")
async def get_preferences(principal: CurrentPrincipal, session: SessionDep) -> PreferencesView:
    """The caller's own notification preferences."""
    preference = await service.preferences_of(session, principal.user_id)
    return PreferencesView.of(preference, service.LANGUAGES)


@router.patch("/preferences", responses=error_responses(UnknownLanguage, InvalidRequest))
async def change_preferences(
    body: PreferencesChange, principal: CurrentPrincipal, session: SessionDep
) -> PreferencesView:
    """Choose which reminders to get, and the language emails are written in."""
    if not body.lead_hours_valid():
        raise InvalidRequest("each reminder lead time must be between 0 and 720 hours")
    preference = await service.change_preferences(
        session,
        principal.user_id,
        reminders=body.reminders,
        reminder_lead_hours=body.reminder_lead_hours,
        all_lead_times="reminder_lead_hours" in body.model_fields_set
        and body.reminder_lead_hours is None,
        language=body.language,
    )
    return PreferencesView.of(preference, service.LANGUAGES)


_CONFIRM_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<title>Stop reminders</title></head><body style="font-family: system-ui, sans-serif">
<form method="post"><p>Stop appointment reminders? Security emails are always sent.</p>
<button type="submit">Stop reminders</button></form></body></html>"""


@router.get("/unsubscribe", response_class=HTMLResponse)
async def confirm_unsubscribe(token: TokenQuery) -> HTMLResponse:
    """The page the email's link opens: one button that stops reminders. (A GET changes
    nothing: mail scanners follow links.)"""
    return HTMLResponse(_CONFIRM_PAGE, headers={"Cache-Control": "no-store"})


@router.post("/unsubscribe", responses=error_responses(InvalidUnsubscribeLink))
async def unsubscribe(
    token: TokenQuery, session: SessionDep, key: UnsubscribeKeyDep
) -> Unsubscribed:
    """Stop reminders with the link from an email (RFC 8058 one-click; no sign-in needed)."""
    await service.unsubscribe_from_reminders(session, key, token)
    return Unsubscribed()


@router.get("/failures", responses=error_responses(Forbidden, UnknownClinic))
async def list_failures(
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    clinic: Annotated[str | None, Query(max_length=200, description="a clinic's name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[FailureView]:
    """Notifications that failed for good, newest first (admins)."""
    settings: NotificationsSettings = request.app.state.settings
    found = await service.failures(session, principal, settings.clinics, clinic=clinic, limit=limit)
    return [FailureView.of(n) for n in found]
