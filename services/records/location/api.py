"""The location's HTTP routes: the client states it, the clinician reads it; the clinician's
licensed jurisdictions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from services.records import audit
from services.records.errors import (
    LocationNotStated,
    NoEmergencyContact,
    NoEmergencyContactOnFile,
    NotYourRecord,
    SessionOver,
    SessionRecordNotFound,
    UnknownCountry,
)
from services.records.location import service
from services.records.location.schemas import (
    ClinicianLocationView,
    CountryView,
    EmergencyContactView,
    JurisdictionsIn,
    JurisdictionsView,
    LocationStatement,
    LocationView,
    RegionView,
)
from shared.dependencies import SessionDep
from shared.errors import Forbidden
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


@router.put(
    "/sessions/{session_id}/location",
    responses=error_responses(
        NoEmergencyContact, NotYourRecord, SessionRecordNotFound, SessionOver
    ),
)
async def state_location(
    principal: CurrentPrincipal,
    session_id: uuid.UUID,
    statement: Annotated[LocationStatement, Body()],
    db: SessionDep,
) -> LocationView:
    """The session's client says where they are now: country and region (ISO 3166-1 and
    3166-2 codes; 422 for unknown ones or a region outside the country), whether at home, an
    address or description for emergencies, and an emergency contact (required until one is
    on file). Only the session's client may (403 for anyone else, 404 for no such session).
    """
    return await service.state_location(db, principal, session_id, statement)


@router.get(
    "/sessions/{session_id}/location",
    responses=error_responses(LocationNotStated, NotYourRecord),
)
async def read_location(
    principal: CurrentPrincipal, session_id: uuid.UUID, db: SessionDep
) -> ClinicianLocationView:
    """Where the session's client said they are, for the session's clinician alone (403 for
    anyone else, the client included), with `jurisdiction_warning` when the region is not
    among the clinician's licensed jurisdictions; 404 until the client has said."""
    return await service.read_location(db, principal, session_id)


@router.get("/clinicians/me/jurisdictions")
async def read_jurisdictions(principal: CurrentPrincipal, db: SessionDep) -> JurisdictionsView:
    """The ISO 3166-2 regions the calling clinician is licensed in."""
    return await service.read_jurisdictions(db, principal)


@router.put("/clinicians/me/jurisdictions")
async def set_jurisdictions(
    principal: CurrentPrincipal,
    update: Annotated[JurisdictionsIn, Body()],
    db: SessionDep,
) -> JurisdictionsView:
    """Replace the calling clinician's licensed jurisdictions (ISO 3166-2 codes; 422 for
    unknown ones)."""
    return await service.set_jurisdictions(db, principal, update)


@router.get(
    "/clients/me/emergency-contact",
    responses=error_responses(NoEmergencyContactOnFile, Forbidden),
)
async def read_emergency_contact(
    principal: CurrentPrincipal, db: SessionDep
) -> EmergencyContactView:
    """The calling client's emergency contact on file (404 until they have given one; 403
    for anyone but a client)."""
    return await service.read_emergency_contact(db, principal)


@router.get("/places/countries")
async def list_countries(principal: CurrentPrincipal) -> list[CountryView]:
    """Every ISO 3166-1 country, by name: what a client may say they are in."""
    return service.countries()


@router.get("/places/regions", responses=error_responses(UnknownCountry))
async def list_regions(
    principal: CurrentPrincipal,
    country: Annotated[str, Query(description="ISO 3166-1 alpha-2", examples=["US"])],
) -> list[RegionView]:
    """The country's ISO 3166-2 subdivisions, by name (422 for a code that is no country's):
    the regions a client may say they are in and a clinician be licensed in. The country is
    in the query, which no access log writes: a client's page asks for its own country."""
    return service.regions(country)
