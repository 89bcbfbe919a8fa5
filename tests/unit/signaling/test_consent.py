"""Over a real socket: a client joins only once they have signed the clinic's current
telehealth consent (as records' consent.* events told signaling), and the clinic may choose
not to require it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.signaling.events import build_router
from services.signaling.schemas import CloseCode
from shared.db import Database
from shared.events.catalog import (
    ConsentDocumentPublished,
    ConsentSigned,
    ConsentWithdrawn,
    Payload,
)
from shared.events.envelope import decode, encode
from tests.unit.signaling.conftest import RunningSignaling, StartSignaling


async def deliver(database: Database, payload: Payload) -> None:
    record = encode(payload, source="/rapport/records")
    async with database.unit_of_work() as session:
        await build_router().dispatch(session, decode(record.key, record.value, record.headers))


async def publish(database: Database, version: int) -> None:
    now = datetime.now(UTC)
    await deliver(
        database, ConsentDocumentPublished(document_id=uuid.uuid4(), version=version, at=now)
    )


async def signed(database: Database, client_id: uuid.UUID, version: int) -> uuid.UUID:
    signature_id = uuid.uuid4()
    await deliver(
        database,
        ConsentSigned(
            signature_id=signature_id,
            client_id=client_id,
            document_id=uuid.uuid4(),
            version=version,
            at=datetime.now(UTC),
        ),
    )
    return signature_id


async def closes_with(
    signaling: RunningSignaling, user_id: uuid.UUID, role: str, session_id: uuid.UUID
) -> int | None:
    peer = await signaling.connect()
    await peer.send(
        {"type": "join", "token": signaling.issuer.signaling(user_id, role, session_id)}
    )
    return await peer.closed_with()


async def test_a_client_joins_only_with_the_current_version_signed(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    database = signaling.database
    # Nothing published: nothing to sign, nobody held.
    client, waiting = await signaling.join(client_id, "client", session_id)
    assert waiting["type"] == "waiting"
    await client.close()

    await publish(database, 1)
    assert await closes_with(signaling, client_id, "client", session_id) == (
        CloseCode.CONSENT_REQUIRED
    )
    # The clinician is not asked.
    clinician, joined = await signaling.join(clinician_id, "clinician", session_id)
    assert joined["type"] == "joined"

    signature_id = await signed(database, client_id, 1)
    client, waiting = await signaling.join(client_id, "client", session_id)
    assert waiting["type"] == "waiting"
    await client.close()

    # A newer version holds the client again until they sign it.
    await publish(database, 2)
    assert await closes_with(signaling, client_id, "client", session_id) == (
        CloseCode.CONSENT_REQUIRED
    )
    signature_id = await signed(database, client_id, 2)
    client, waiting = await signaling.join(client_id, "client", session_id)
    assert waiting["type"] == "waiting"
    await client.close()

    await deliver(
        database,
        ConsentWithdrawn(
            signature_id=signature_id,
            client_id=client_id,
            document_id=uuid.uuid4(),
            version=2,
            at=datetime.now(UTC),
        ),
    )
    assert await closes_with(signaling, client_id, "client", session_id) == (
        CloseCode.CONSENT_REQUIRED
    )


async def test_a_clinic_may_not_require_it(start_signaling: StartSignaling) -> None:
    signaling = await start_signaling(consent_required=False)
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    await publish(signaling.database, 1)
    _, waiting = await signaling.join(client_id, "client", session_id)
    assert waiting["type"] == "waiting"


async def test_a_signature_heard_before_its_version_counts(signaling: RunningSignaling) -> None:
    # consent.document_published and consent.signed are keyed differently (document, client),
    # so signaling may hear of a signature of version 2 before it hears version 2 exists.
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    await publish(signaling.database, 1)
    await signed(signaling.database, client_id, 2)
    await publish(signaling.database, 2)
    _, waiting = await signaling.join(client_id, "client", session_id)
    assert waiting["type"] == "waiting"
