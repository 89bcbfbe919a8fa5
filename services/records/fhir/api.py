"""The FHIR export's HTTP route."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from services.records import audit
from services.records.fhir import service
from shared.dependencies import SessionDep
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


@router.get(
    "/clients/{client_id}/fhir",
    response_class=JSONResponse,
    responses={200: {"content": {"application/fhir+json": {}}}},
)
async def export_client_fhir(
    principal: CurrentPrincipal, client_id: uuid.UUID, db: SessionDep
) -> JSONResponse:
    """The client's records as a FHIR R4 Bundle (their clinician, or a partner with fhir:read)."""
    bundle = await service.export_client_fhir(db, principal, client_id)
    return JSONResponse(bundle, media_type="application/fhir+json")
