"""Session lifetimes (ASVS 5.0 ch. 7, HIPAA 164.312(a)(2)(iii)): a sign-in idle past its idle
timeout, or older than its absolute lifetime, is ended, not just refused: the refresh gets a 401
that says why, the family is revoked, and the revocation event (which closes the sign-in's
signaling sockets at the edge) is queued."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
import pytest

from services.identity.models import RefreshFamily, RefreshToken
from services.identity.settings import IdentitySettings
from shared.db import Database, utc_now
from tests.unit.identity.test_refresh_tokens import _logged_in, _refresh, _revocations


def _digest(token: object) -> str:
    return hashlib.sha256(str(token).encode()).hexdigest()


async def _age(database: Database, token: object, *, idle: bool, absolute: bool) -> RefreshToken:
    """Move the sign-in of ``token`` past its idle timeout and/or its absolute lifetime."""
    past = utc_now() - timedelta(seconds=1)
    async with database.unit_of_work() as session:
        stored = await session.get(RefreshToken, _digest(token))
        assert stored is not None
        if idle:
            stored.expires_at = past
            session.add(stored)
        if absolute:
            family = await session.get(RefreshFamily, stored.family_id)
            assert family is not None
            family.expires_at = past
            session.add(family)
        return stored


@pytest.mark.parametrize(
    ("idle", "absolute", "reason"),
    [(True, False, "idle_timeout"), (False, True, "absolute_lifetime")],
)
async def test_an_expired_sign_in_is_refused_with_its_reason_and_ended(
    client: httpx.AsyncClient, database: Database, idle: bool, absolute: bool, reason: str
) -> None:
    first = await _logged_in(client, f"{reason}@example.com")
    # A second device's sign-in of the same user must survive.
    other = (
        await client.post(
            "/v1/auth/login",
            json={"email": f"{reason}@example.com", "password": "correct horse battery"},
        )
    ).json()
    stored = await _age(database, first["refresh_token"], idle=idle, absolute=absolute)

    refused = await _refresh(client, first["refresh_token"])
    assert refused.status_code == 401
    body = refused.json()
    assert body["error"] == "SignInExpired"
    assert body["reason"] == reason
    assert "sign in again" in body["detail"]

    async with database.unit_of_work() as session:
        family = await session.get(RefreshFamily, stored.family_id)
        assert family is not None
        assert family.revoked_at is not None and family.revoked_reason == reason
    revoked = await _revocations(database)
    assert [(r.family_id, r.reason) for r in revoked] == [(stored.family_id, reason)]

    # Ended once: asking again is the plain refusal of a dead token, and queues nothing more.
    again = await _refresh(client, first["refresh_token"])
    assert again.status_code == 401 and again.json()["error"] == "InvalidRefreshToken"
    assert len(await _revocations(database)) == 1
    assert (await _refresh(client, other["refresh_token"])).status_code == 200


def test_defaults_suit_a_clinical_app() -> None:
    settings = IdentitySettings()
    # A clinician's unattended dashboard signs out after 30 minutes; a sign-in lasts a shift.
    assert settings.refresh_idle_timeout_seconds == 30 * 60
    assert settings.refresh_absolute_lifetime_seconds == 12 * 3600
