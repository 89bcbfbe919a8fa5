"""Consent documents', signatures' and statuses' request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from services.records.consent import rules
from services.records.schemas import NON_BLANK, RequestBody, View


class ConsentDocumentIn(RequestBody):
    """A new version of the clinic's telehealth consent."""

    title: str = Field(min_length=1, max_length=200, pattern=NON_BLANK)
    text: str = Field(min_length=1, max_length=100_000, pattern=NON_BLANK)
    # Higher than every version published before (409 otherwise).
    version: int = Field(ge=1, le=1_000_000, examples=[2])


class ConsentDocumentSummary(View):
    id: uuid.UUID
    version: int
    title: str
    sha256: str
    published_at: datetime


class ConsentDocumentView(ConsentDocumentSummary):
    text: str


class SignatureIn(RequestBody):
    """The client signs the version they read: its id, version and hash as they were shown,
    and their name as they type it (letters, spaces, hyphens, apostrophes, full stops)."""

    document_id: uuid.UUID
    version: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="hex SHA-256 of the text")
    typed_name: Annotated[
        str,
        Field(min_length=2, max_length=200, examples=["Alex Rivera"]),
        AfterValidator(rules.typed_name),
    ]


class SignatureView(View):
    id: uuid.UUID
    client_id: uuid.UUID
    document_id: uuid.UUID
    version: int
    sha256: str
    typed_name: str
    signed_at: datetime
    withdrawn_at: datetime | None


ConsentState = Literal["signed", "withdrawn", "outdated", "not_signed", "no_document"]


class ConsentStatus(View):
    """Where a client stands with the clinic's current consent.

    ``signed``: their latest signature is of the current version and in force; ``withdrawn``:
    they withdrew it; ``outdated``: they signed an older version only; ``not_signed``: never;
    ``no_document``: the clinic has published none, so there is nothing to sign.
    """

    client_id: uuid.UUID
    state: ConsentState
    current: ConsentDocumentSummary | None
    # The client's most recent signature (withdrawn or not), if any.
    latest: SignatureView | None
