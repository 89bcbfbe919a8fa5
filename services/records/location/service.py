"""Where the client is at the start of a session, and whether their clinician may practise
there: stated by the session's client, read by its clinician, audited both ways.

The statement is clinical: it stays in records (no event carries it, so no webhook can) and
no log line names it. Billing learns only whether the client said they were at home.
"""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit
from services.records import repository as records
from services.records.access import party_role
from services.records.errors import (
    LocationNotStated,
    NoEmergencyContact,
    NoEmergencyContactOnFile,
    NotYourRecord,
    SessionOver,
    SessionRecordNotFound,
    UnknownCountry,
)
from services.records.location import repository, rules
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
from services.records.models import (
    ClinicianJurisdictions,
    EmergencyContact,
    SessionLocation,
    SessionRecord,
)
from shared.db import utc_now
from shared.tokens import Principal


async def _session(db: AsyncSession, session_id: uuid.UUID) -> SessionRecord:
    record = await records.get_session_record(db, session_id)
    if record is None:
        raise SessionRecordNotFound(f"no session {session_id}")
    return record


async def state_location(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID, statement: LocationStatement
) -> LocationView:
    """The session's client says where they are now (again: it replaces what they said)."""
    record = await _session(db, session_id)
    if party_role(principal, record.clinician_id, record.client_id) != "client":
        raise NotYourRecord("only the session's client may say where they are")
    if record.ended_at is not None:
        raise SessionOver("the session has ended")
    contact = await repository.get_emergency_contact(db, record.client_id)
    given = statement.emergency_contact
    if given is None and contact is None:
        raise NoEmergencyContact(
            "emergency_contact: you have none on file yet; give one", field="emergency_contact"
        )
    if given is not None:
        audit_action = "create" if contact is None else "update"
        if contact is None:
            contact = EmergencyContact(client_id=record.client_id, name="", phone="")
            records.add(db, contact)
        contact.name = given.name
        contact.phone = given.phone
        contact.relationship = given.relationship
        contact.updated_at = utc_now()
        await audit.record(db, principal, audit_action, "emergency_contact", [record.client_id])
    location = await repository.get_location(db, session_id)
    audit_action = "create" if location is None else "update"
    if location is None:
        location = SessionLocation(
            session_id=session_id,
            client_id=record.client_id,
            country=statement.country,
            region=statement.region,
            at_home=statement.at_home,
            address=statement.address,
        )
        records.add(db, location)
    else:
        location.country = statement.country
        location.region = statement.region
        location.at_home = statement.at_home
        location.address = statement.address
        location.stated_at = utc_now()
    await audit.record(db, principal, audit_action, "session_location", [session_id])
    assert contact is not None
    return _view(location, contact)


def _view(location: SessionLocation, contact: EmergencyContact) -> LocationView:
    return LocationView.model_validate(
        {
            **location.model_dump(),
            "emergency_contact": EmergencyContactView.model_validate(contact),
        }
    )


async def read_location(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID
) -> ClinicianLocationView:
    """What the session's client stated, for the session's clinician alone, with a warning
    when the region is outside the clinician's licensed jurisdictions."""
    record = await _session(db, session_id)
    if party_role(principal, record.clinician_id, record.client_id) != "clinician":
        raise NotYourRecord("only the session's clinician may read where the client is")
    location = await repository.get_location(db, session_id)
    contact = await repository.get_emergency_contact(db, record.client_id)
    if location is None or contact is None:
        raise LocationNotStated("the client has not said where they are for this session yet")
    await audit.record(db, principal, "read", "session_location", [session_id])
    await audit.record(db, principal, "read", "emergency_contact", [record.client_id])
    jurisdictions = await repository.get_jurisdictions(db, record.clinician_id)
    licensed = list(jurisdictions.regions) if jurisdictions is not None else []
    return ClinicianLocationView.model_validate(
        {
            **_view(location, contact).model_dump(),
            "jurisdiction_warning": rules.outside_jurisdictions(location.region, licensed),
            "licensed_regions": licensed,
        }
    )


async def stated_at_home(db: AsyncSession, session_id: uuid.UUID) -> bool | None:
    """Whether the client said they were at home for the session (None: they did not say)."""
    location = await repository.get_location(db, session_id)
    return None if location is None else location.at_home


async def read_jurisdictions(db: AsyncSession, principal: Principal) -> JurisdictionsView:
    """The caller's (a clinician's) licensed jurisdictions; none until they set them."""
    principal.require_role("clinician")
    jurisdictions = await repository.get_jurisdictions(db, principal.user_id)
    if jurisdictions is None:
        return JurisdictionsView(clinician_id=principal.user_id, regions=[], updated_at=None)
    return JurisdictionsView.model_validate(jurisdictions)


async def set_jurisdictions(
    db: AsyncSession, principal: Principal, update: JurisdictionsIn
) -> JurisdictionsView:
    """Replace the caller's (a clinician's) licensed jurisdictions."""
    principal.require_role("clinician")
    jurisdictions = await repository.get_jurisdictions(db, principal.user_id)
    if jurisdictions is None:
        jurisdictions = ClinicianJurisdictions(clinician_id=principal.user_id)
        records.add(db, jurisdictions)
    jurisdictions.regions = sorted(set(update.regions))
    jurisdictions.updated_at = utc_now()
    return JurisdictionsView.model_validate(jurisdictions)


async def read_emergency_contact(db: AsyncSession, principal: Principal) -> EmergencyContactView:
    """The calling client's emergency contact on file, so the waiting room can offer it
    rather than ask again."""
    principal.require_role("client")
    contact = await repository.get_emergency_contact(db, principal.user_id)
    if contact is None:
        raise NoEmergencyContactOnFile("you have no emergency contact on file yet")
    await audit.record(db, principal, "read", "emergency_contact", [principal.user_id])
    return EmergencyContactView.model_validate(contact)


def countries() -> list[CountryView]:
    """The countries a client may say they are in."""
    return [CountryView(code=code, name=name) for code, name in rules.countries()]


def regions(country: str) -> list[RegionView]:
    """The regions of one country a client may say they are in, or a clinician be licensed in."""
    try:
        found = rules.regions(country)
    except ValueError as exc:
        raise UnknownCountry(f"country: {country!r} {exc}", field="country") from exc
    return [RegionView(code=code, name=name, type=kind) for code, name, kind in found]
