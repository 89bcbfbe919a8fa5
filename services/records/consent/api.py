"""Consent's HTTP routes: admins publish versions, clients sign and withdraw, the client and
their clinician read the client's status."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends

from services.records import audit
from services.records.consent import service
from services.records.consent.schemas import (
    ConsentDocumentIn,
    ConsentDocumentSummary,
    ConsentDocumentView,
    ConsentStatus,
    SignatureIn,
    SignatureView,
)
from services.records.errors import (
    ConsentDocumentNotFound,
    ConsentNotCurrent,
    ConsentNotSigned,
    ConsentVersionNotNewer,
    NotYourRecord,
)
from shared.dependencies import SessionDep
from shared.errors import Forbidden
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


@router.post(
    "/consent/documents",
    status_code=201,
    responses=error_responses(Forbidden, ConsentVersionNotNewer),
)
async def publish_consent_document(
    principal: CurrentPrincipal,
    document: Annotated[ConsentDocumentIn, Body()],
    db: SessionDep,
) -> ConsentDocumentView:
    """Publish a new version of the clinic's telehealth consent (admins only; 403 for anyone
    else). Its SHA-256 is computed from the text and kept; older versions stay readable. The
    version must be higher than the current one (409 otherwise). Clients must sign it before
    their next session when the clinic requires consent (signaling's ``consent_required``).
    """
    return await service.publish_document(db, principal, document)


@router.get("/consent/documents", responses=error_responses(Forbidden))
async def list_consent_documents(
    principal: CurrentPrincipal, db: SessionDep
) -> list[ConsentDocumentSummary]:
    """Every published version, newest first, without their text (admins and clinicians)."""
    return await service.list_documents(db, principal)


@router.get("/consent/documents/current", responses=error_responses(ConsentDocumentNotFound))
async def current_consent_document(
    principal: CurrentPrincipal, db: SessionDep
) -> ConsentDocumentView:
    """The version a client signs now, with its text and hash; 404 while the clinic has
    published none."""
    return await service.current_document(db, principal)


@router.get("/consent/documents/{document_id}", responses=error_responses(ConsentDocumentNotFound))
async def read_consent_document(
    principal: CurrentPrincipal, document_id: uuid.UUID, db: SessionDep
) -> ConsentDocumentView:
    """One version, current or older, with its text and hash."""
    return await service.read_document(db, principal, document_id)


@router.post(
    "/consent/signatures",
    status_code=201,
    responses=error_responses(Forbidden, ConsentDocumentNotFound, ConsentNotCurrent),
)
async def sign_consent(
    principal: CurrentPrincipal,
    signature: Annotated[SignatureIn, Body()],
    db: SessionDep,
) -> SignatureView:
    """The calling client signs the current version: its id, version and hash as shown to
    them (409 when another version is current), and their typed name (letters, spaces,
    hyphens, apostrophes and full stops, at least two letters; 422 otherwise). The time is
    the server's. Signing the version already in force again answers with that signature."""
    return await service.sign(db, principal, signature)


@router.post("/consent/withdrawal", responses=error_responses(Forbidden, ConsentNotSigned))
async def withdraw_consent(principal: CurrentPrincipal, db: SessionDep) -> SignatureView:
    """The calling client withdraws the consent in force (409 when none is). The signature
    stays on file with the time of withdrawal; joins are refused again until they sign."""
    return await service.withdraw(db, principal)


@router.get("/clients/{client_id}/consent", responses=error_responses(Forbidden, NotYourRecord))
async def client_consent(
    principal: CurrentPrincipal, client_id: uuid.UUID, db: SessionDep
) -> ConsentStatus:
    """Where a client stands with the current consent (`signed`, `withdrawn`, `outdated`,
    `not_signed`, or `no_document`), with the current version and their latest signature:
    for the client, and for a clinician in an active care relationship with them (403 for
    anyone else)."""
    return await service.client_consent(db, principal, client_id)
