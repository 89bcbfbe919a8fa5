"""The clinic's telehealth consent: admins publish versions, clients sign the current one
and withdraw, clients and their clinicians read the status; events carry ids only, and every
read and change of a client's consent is audited."""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import httpx
import pytest

from shared.events.catalog import ConsentDocumentPublished, ConsentSigned, ConsentWithdrawn
from tests.unit.records.conftest import Records

CONSENT_TEXT = "CONSENT-TEXT-telehealth-risks-and-privacy"
TYPED_NAME = "Alex Q. O'Rivera-Smith"


async def publish(
    records: Records, admin: uuid.UUID, version: int, text: str = CONSENT_TEXT
) -> httpx.Response:
    return await records.http.post(
        "/v1/consent/documents",
        json={"title": f"Telehealth consent v{version}", "text": text, "version": version},
        headers=records.auth(admin),
    )


async def sign(
    records: Records, client: uuid.UUID, document: dict[str, Any], **changes: Any
) -> httpx.Response:
    body = {
        "document_id": document["id"],
        "version": document["version"],
        "sha256": document["sha256"],
        "typed_name": TYPED_NAME,
        **changes,
    }
    return await records.http.post(
        "/v1/consent/signatures", json=body, headers=records.auth(client)
    )


async def status(records: Records, client: uuid.UUID, reader: uuid.UUID) -> httpx.Response:
    return await records.http.get(f"/v1/clients/{client}/consent", headers=records.auth(reader))


async def test_sign_resign_a_newer_version_and_withdraw(records: Records):
    admin = await records.register("admin")
    clinician = await records.register("clinician")
    client = await records.register("client")
    await records.relate(clinician, client)
    assert (await status(records, client, clinician)).json()["state"] == "no_document"

    first = await publish(records, admin, 1)
    assert first.status_code == 201, first.text
    v1 = first.json()
    assert v1["sha256"] == hashlib.sha256(CONSENT_TEXT.encode()).hexdigest()
    assert (await status(records, client, clinician)).json()["state"] == "not_signed"

    signed = await sign(records, client, v1)
    assert signed.status_code == 201, signed.text
    assert signed.json()["typed_name"] == TYPED_NAME
    assert signed.json()["version"] == 1
    # Signing again the version in force answers with the same signature.
    again = await sign(records, client, v1)
    assert again.json()["id"] == signed.json()["id"]
    read = (await status(records, client, clinician)).json()
    assert read["state"] == "signed"
    assert read["latest"]["sha256"] == v1["sha256"]

    v2 = (await publish(records, admin, 2, text=CONSENT_TEXT + " (2)")).json()
    assert (await status(records, client, client)).json()["state"] == "outdated"
    stale = await sign(records, client, v1)
    assert stale.status_code == 409, stale.text
    assert "version 2" in stale.json()["detail"]
    resigned = await sign(records, client, v2)
    assert resigned.status_code == 201, resigned.text
    assert (await status(records, client, clinician)).json()["state"] == "signed"

    withdrawn = await records.http.post("/v1/consent/withdrawal", headers=records.auth(client))
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["withdrawn_at"] is not None
    assert withdrawn.json()["id"] == resigned.json()["id"]  # the signature stays
    read = (await status(records, client, clinician)).json()
    assert read["state"] == "withdrawn"
    assert read["latest"]["withdrawn_at"] is not None
    twice = await records.http.post("/v1/consent/withdrawal", headers=records.auth(client))
    assert twice.status_code == 409, twice.text

    # Older versions stay readable.
    old = await records.http.get(f"/v1/consent/documents/{v1['id']}", headers=records.auth(client))
    assert old.json()["text"] == CONSENT_TEXT
    listed = await records.http.get("/v1/consent/documents", headers=records.auth(admin))
    assert [d["version"] for d in listed.json()] == [2, 1]

    published = await records.outbox(ConsentDocumentPublished)
    assert [(e.document_id, e.version) for e in published] == [
        (uuid.UUID(v1["id"]), 1),
        (uuid.UUID(v2["id"]), 2),
    ]
    signatures = await records.outbox(ConsentSigned)
    assert [(e.client_id, e.version) for e in signatures] == [(client, 1), (client, 2)]
    [withdrawal] = await records.outbox(ConsentWithdrawn)
    assert withdrawal.signature_id == uuid.UUID(resigned.json()["id"])


async def test_bad_input_and_who_may_do_what(records: Records):
    admin = await records.register("admin")
    clinician = await records.register("clinician")
    stranger = await records.register("clinician")
    client = await records.register("client")
    await records.relate(clinician, client)
    none_yet = await records.http.get("/v1/consent/documents/current", headers=records.auth(client))
    assert none_yet.status_code == 404
    assert (await publish(records, clinician, 1)).status_code == 403
    assert (await publish(records, client, 1)).status_code == 403
    v3 = (await publish(records, admin, 3)).json()
    not_newer = await publish(records, admin, 3)
    assert not_newer.status_code == 409
    assert "higher than the current version 3" in not_newer.json()["detail"]
    blank = await records.http.post(
        "/v1/consent/documents",
        json={"title": " ", "text": "x", "version": 4},
        headers=records.auth(admin),
    )
    assert blank.status_code == 422

    for name in ("x", "1234", "Robert'); DROP TABLE", "   "):
        refused = await sign(records, client, v3, typed_name=name)
        assert refused.status_code == 422, (name, refused.text)
    wrong_hash = await sign(records, client, v3, sha256="0" * 64)
    assert wrong_hash.status_code == 409
    assert (await sign(records, clinician, v3)).status_code == 403
    assert (await status(records, client, stranger)).status_code == 403
    assert (await status(records, client, admin)).status_code == 403
    nothing = await records.http.post("/v1/consent/withdrawal", headers=records.auth(client))
    assert nothing.status_code == 409


async def test_reads_and_changes_are_audited_and_no_event_or_log_holds_the_text(
    records: Records, caplog: pytest.LogCaptureFixture
):
    # What a service logs at its most verbose setting in production (INFO; DEBUG is for
    # libraries such as aiosqlite, which echo SQL parameters).
    caplog.set_level(logging.INFO)
    admin = await records.register("admin")
    clinician = await records.register("clinician")
    client = await records.register("client")
    await records.relate(clinician, client)
    document = (await publish(records, admin, 1)).json()
    # A refused signature too: what it held must not end up in a log either.
    refused = await sign(records, client, document, typed_name="Rivera 2nd")
    assert refused.status_code == 422
    signature = (await sign(records, client, document)).json()
    await status(records, client, clinician)
    await records.http.post("/v1/consent/withdrawal", headers=records.auth(client))

    entries = {
        (e.actor_id, e.action, e.resource_type, e.resource_id)
        for e in await records.audit_entries()
    }
    assert (admin, "create", "consent_document", document["id"]) in entries
    assert (client, "create", "consent_signature", signature["id"]) in entries
    assert (clinician, "read", "consent", str(client)) in entries
    assert (client, "update", "consent_signature", signature["id"]) in entries
    published = b"\n".join(await records.outbox_values())
    assert published.count(b'"document_id"') >= 3  # published, signed, withdrawn
    for needle in (CONSENT_TEXT, "Telehealth consent v1", TYPED_NAME, "Rivera"):
        assert needle.encode() not in published, needle
        assert needle not in caplog.text, needle
