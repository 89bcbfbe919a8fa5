"""The location and licensed jurisdictions' request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from services.records.location import rules
from services.records.schemas import NON_BLANK, RequestBody, View

CountryCode = Annotated[
    str,
    Field(
        min_length=2,
        max_length=2,
        pattern=r"^[A-Za-z]{2}$",
        description="ISO 3166-1 alpha-2 (a code ISO assigned)",
        examples=["US"],
    ),
    AfterValidator(rules.country_code),
]
RegionCode = Annotated[
    str,
    Field(
        min_length=4,
        max_length=6,
        pattern=r"^[A-Za-z]{2}-[A-Za-z0-9]{1,3}$",
        description="ISO 3166-2 (a subdivision code ISO assigned)",
        examples=["US-NY"],
    ),
    AfterValidator(rules.region_code),
]


class EmergencyContactIn(RequestBody):
    name: str = Field(min_length=1, max_length=200, pattern=NON_BLANK)
    # With its country code (+44 ...), or as dialled in the client's stated country.
    phone: str = Field(min_length=3, max_length=40, examples=["+1 212 555 0100"])
    relationship: str | None = Field(None, max_length=100, examples=["sister"])


class LocationStatement(RequestBody):
    """Where the client is for this session. ``emergency_contact`` replaces the one on file;
    it may be left out once one is."""

    country: CountryCode
    region: RegionCode
    at_home: bool
    address: str = Field(
        min_length=1,
        max_length=500,
        pattern=NON_BLANK,
        description="An address, or a description of the place, for emergencies",
    )
    emergency_contact: EmergencyContactIn | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not rules.region_in_country(self.region, self.country):
            raise ValueError(f"region {self.region} is not in country {self.country}")
        if self.emergency_contact is not None:
            phone = rules.e164_phone(self.emergency_contact.phone, self.country)
            self.emergency_contact = self.emergency_contact.model_copy(update={"phone": phone})
        return self


class EmergencyContactView(View):
    name: str
    phone: str
    relationship: str | None


class LocationView(View):
    """What the client stated (the answer to the client who stated it)."""

    session_id: uuid.UUID
    client_id: uuid.UUID
    country: str
    region: str
    at_home: bool
    address: str
    stated_at: datetime
    emergency_contact: EmergencyContactView


class ClinicianLocationView(LocationView):
    """What the clinician sees before admitting: the statement and the licensure check."""

    # The region is not among the clinician's licensed jurisdictions (or they set none).
    jurisdiction_warning: bool
    licensed_regions: list[str]


class JurisdictionsIn(RequestBody):
    regions: list[RegionCode] = Field(max_length=200, examples=[["US-NY", "US-NJ"]])


class JurisdictionsView(View):
    clinician_id: uuid.UUID
    regions: list[str]
    updated_at: datetime | None


class CountryView(View):
    code: str = Field(description="ISO 3166-1 alpha-2", examples=["US"])
    name: str = Field(examples=["United States"])


class RegionView(View):
    code: str = Field(description="ISO 3166-2", examples=["US-NY"])
    name: str = Field(examples=["New York"])
    type: str = Field(description="What ISO calls the subdivision", examples=["State"])
