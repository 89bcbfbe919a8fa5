"""The clinic's telehealth consent: an admin publishes versions, the client signs the current
one and may withdraw, the client and their clinician read where the client stands.

The document's text and the typed name stay in records: ``consent.*`` events carry ids and
version numbers only, and no log line names either. Reads and changes of a client's consent
are audited; the documents themselves are the clinic's paperwork, no client's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit
from services.records import repository as records
from services.records.access import SOURCE
from services.records.consent import repository, rules
from services.records.consent.schemas import (
    ConsentDocumentIn,
    ConsentDocumentSummary,
    ConsentDocumentView,
    ConsentState,
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
from services.records.models import ConsentDocument, ConsentSignature
from shared.db import utc_now
from shared.events.catalog import ConsentDocumentPublished, ConsentSigned, ConsentWithdrawn
from shared.events.outbox import add_event
from shared.tokens import Principal


async def publish_document(
    db: AsyncSession, principal: Principal, document: ConsentDocumentIn
) -> ConsentDocumentView:
    """An admin publishes a new version; from now on it is the one clients must sign."""
    principal.require_role("admin")
    current = await repository.current_document(db)
    if current is not None and document.version <= current.version:
        raise ConsentVersionNotNewer(
            f"version: must be higher than the current version {current.version}",
            field="version",
        )
    row = ConsentDocument(
        version=document.version,
        title=document.title,
        text=document.text,
        sha256=rules.document_hash(document.text),
        published_by=principal.user_id,
    )
    records.add(db, row)
    try:
        # Written now, not at commit: of two admins publishing one version at once, the
        # second meets the unique version here and gets the same 409 as a later try would.
        await db.flush()
    except IntegrityError:
        raise ConsentVersionNotNewer(
            f"version: version {document.version} was published meanwhile",
            field="version",
        ) from None
    add_event(
        db,
        ConsentDocumentPublished(document_id=row.id, version=row.version, at=row.published_at),
        source=SOURCE,
    )
    await audit.record(db, principal, "create", "consent_document", [row.id])
    return ConsentDocumentView.model_validate(row)


async def current_document(db: AsyncSession, principal: Principal) -> ConsentDocumentView:
    """The version a client must sign now (for anyone signed in: it is what the clinic asks)."""
    current = await repository.current_document(db)
    if current is None:
        raise ConsentDocumentNotFound("the clinic has published no consent document yet")
    return ConsentDocumentView.model_validate(current)


async def read_document(
    db: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> ConsentDocumentView:
    """One version, current or older: what a signature of it agreed to."""
    document = await repository.get_document(db, document_id)
    if document is None:
        raise ConsentDocumentNotFound(f"no consent document {document_id}")
    return ConsentDocumentView.model_validate(document)


async def list_documents(db: AsyncSession, principal: Principal) -> list[ConsentDocumentSummary]:
    """Every version, newest first (for admins and clinicians)."""
    principal.require_role("admin", "clinician")
    return [ConsentDocumentSummary.model_validate(d) for d in await repository.list_documents(db)]


async def sign(db: AsyncSession, principal: Principal, signature: SignatureIn) -> SignatureView:
    """The calling client signs the current version, naming the version and hash they were
    shown (409 when it is no longer current). Signing the version already in force again
    changes nothing and answers with that signature."""
    principal.require_role("client")
    client_id = principal.user_id
    current = await repository.current_document(db)
    if current is None:
        raise ConsentDocumentNotFound("the clinic has published no consent document yet")
    if (
        signature.document_id != current.id
        or signature.version != current.version
        or signature.sha256.lower() != current.sha256
    ):
        raise ConsentNotCurrent(
            f"the current consent is version {current.version} (id {current.id}, sha256 "
            f"{current.sha256}): read it again and sign that one"
        )
    latest = await repository.latest_signature(db, client_id)
    if latest is not None and latest.document_id == current.id and latest.withdrawn_at is None:
        await audit.record(db, principal, "read", "consent_signature", [latest.id])
        return SignatureView.model_validate(latest)
    row = ConsentSignature(
        client_id=client_id,
        document_id=current.id,
        version=current.version,
        sha256=current.sha256,
        typed_name=signature.typed_name,
    )
    records.add(db, row)
    add_event(db, ConsentSigned(**_event_fields(row), at=row.signed_at), source=SOURCE)
    await audit.record(db, principal, "create", "consent_signature", [row.id])
    return SignatureView.model_validate(row)


async def withdraw(db: AsyncSession, principal: Principal) -> SignatureView:
    """The calling client withdraws the consent in force; the signature stays, with when."""
    principal.require_role("client")
    latest = await repository.latest_signature(db, principal.user_id)
    if latest is None or latest.withdrawn_at is not None:
        raise ConsentNotSigned("you have no consent in force to withdraw")
    latest.withdrawn_at = utc_now()
    records.add(db, latest)
    add_event(db, ConsentWithdrawn(**_event_fields(latest), at=latest.withdrawn_at), source=SOURCE)
    await audit.record(db, principal, "update", "consent_signature", [latest.id])
    return SignatureView.model_validate(latest)


def _event_fields(row: ConsentSignature) -> dict[str, object]:
    return {
        "signature_id": row.id,
        "client_id": row.client_id,
        "document_id": row.document_id,
        "version": row.version,
    }


async def client_consent(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> ConsentStatus:
    """Where the client stands with the current consent: for the client, and for a clinician
    in an active care relationship with them."""
    if principal.user_id != client_id:
        principal.require_role("clinician")
        if await records.get_active_relationship(db, principal.user_id, client_id) is None:
            raise NotYourRecord("only the client and their clinician see their consent")
    current = await repository.current_document(db)
    latest = await repository.latest_signature(db, client_id)
    await audit.record(db, principal, "read", "consent", [client_id])
    return ConsentStatus(
        client_id=client_id,
        state=consent_state(current, latest),
        current=None if current is None else ConsentDocumentSummary.model_validate(current),
        latest=None if latest is None else SignatureView.model_validate(latest),
    )


def consent_state(current: ConsentDocument | None, latest: ConsentSignature | None) -> ConsentState:
    if current is None:
        return "no_document"
    if latest is None:
        return "not_signed"
    if latest.withdrawn_at is not None:
        return "withdrawn"
    if latest.document_id != current.id:
        return "outdated"
    return "signed"


async def signatures_for_export(
    db: AsyncSession, client_id: uuid.UUID
) -> Sequence[tuple[ConsentSignature, ConsentDocument]]:
    """The client's signatures with the versions they signed (the FHIR export's Consents)."""
    rows = []
    for signature in await repository.signatures_of_client(db, client_id):
        document = await repository.get_document(db, signature.document_id)
        assert document is not None  # a foreign key
        rows.append((signature, document))
    return rows
