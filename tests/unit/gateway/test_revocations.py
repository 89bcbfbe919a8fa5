"""Revoked principals refused at the edge: identity's events, applied by the gateway's listener.

The listener here is fed the same CloudEvents records identity publishes (encoded by the real
envelope code); tests/integration/identity/test_revocation_at_the_edge.py runs the whole path
over a real Kafka broker.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from gateway.revocations import revocation_follower
from shared.events.catalog import (
    AppointmentScheduled,
    Payload,
    TokensRevoked,
    UserDeactivated,
    UserRoleChanged,
)
from shared.events.envelope import encode
from shared.events.revocations import RevocationFollower
from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import EchoUpstream, asgi_gateway, gateway_settings


def _listener(app: FastAPI) -> RevocationFollower:
    # Not started: no broker in unit tests, records are handed to it directly.
    return revocation_follower(
        app.state.token_verifier, bootstrap_servers="unused:9", lookback_seconds=960
    )


async def _deliver(listener: RevocationFollower, payload: Payload) -> None:
    record = encode(payload, source="/rapport/identity")
    await listener.apply(record.key, record.value, record.headers)


async def _status(http: httpx.AsyncClient, token: str, path: str) -> int:
    response = await http.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize(
    "revocation",
    ["deactivated", "role changed", "refresh reuse", "password changed"],
)
async def test_a_revoked_users_still_valid_token_is_refused(
    echo_upstream: EchoUpstream, token_issuer: TestTokenIssuer, revocation: str
) -> None:
    user, bystander = uuid.uuid4(), uuid.uuid4()
    token = token_issuer.issue(user, "clinician")
    other = token_issuer.issue(bystander, "clinician")
    payloads: dict[str, Payload] = {
        "deactivated": UserDeactivated(user_id=user, deactivated_at=_now()),
        "role changed": UserRoleChanged(
            user_id=user, old_role="clinician", new_role="client", changed_at=_now()
        ),
        "refresh reuse": TokensRevoked(
            user_id=user, family_id=uuid.uuid4(), reason="refresh_reuse", revoked_before=_now()
        ),
        # Every refresh family at once (family_id null): every session ends.
        "password changed": TokensRevoked(
            user_id=user, family_id=None, reason="password_changed", revoked_before=_now()
        ),
    }
    settings = gateway_settings(records_url=echo_upstream.url)
    async with asgi_gateway(settings, token_issuer) as (app, http):
        path = f"/v1/goals/revoked-{revocation.replace(' ', '-')}"
        assert await _status(http, token, path) == 200  # valid, and now cached as verified
        await _deliver(_listener(app), payloads[revocation])
        refused = await http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert await _status(http, other, path) == 200
    assert refused.status_code == 401
    assert refused.json() == {"error": "Unauthorized", "detail": "token revoked"}
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.headers["x-content-type-options"] == "nosniff"


async def test_tokens_issued_after_the_revocation_still_pass(
    echo_upstream: EchoUpstream, token_issuer: TestTokenIssuer
) -> None:
    user = uuid.uuid4()
    settings = gateway_settings(records_url=echo_upstream.url)
    async with asgi_gateway(settings, token_issuer) as (app, http):
        await _deliver(
            _listener(app),
            UserRoleChanged(
                user_id=user,
                old_role="client",
                new_role="clinician",
                changed_at=_now() - timedelta(seconds=30),
            ),
        )
        assert await _status(http, token_issuer.issue(user, "clinician"), "/v1/goals/new") == 200


async def test_a_logout_refuses_the_tokens_of_that_sign_in_and_no_other(
    echo_upstream: EchoUpstream, token_issuer: TestTokenIssuer
) -> None:
    user, signed_out, still_in = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    token = token_issuer.issue(user, "client", fid=str(signed_out))
    other_device = token_issuer.issue(user, "client", fid=str(still_in))
    settings = gateway_settings(records_url=echo_upstream.url)
    async with asgi_gateway(settings, token_issuer) as (app, http):
        path = "/v1/goals/logout"
        assert await _status(http, token, path) == 200  # valid, and now cached as verified
        await _deliver(
            _listener(app),
            TokensRevoked(
                user_id=user, family_id=signed_out, reason="logout", revoked_before=_now()
            ),
        )
        refused = await http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert await _status(http, other_device, path) == 200
        # Minted after the logout, but of the ended sign-in all the same.
        later = token_issuer.issue(user, "client", fid=str(signed_out))
        assert await _status(http, later, path) == 401
    assert refused.status_code == 401
    assert refused.json() == {"error": "Unauthorized", "detail": "token revoked"}


async def test_other_events_leave_access_tokens_alone(
    echo_upstream: EchoUpstream, token_issuer: TestTokenIssuer
) -> None:
    user = uuid.uuid4()
    token = token_issuer.issue(user, "client")
    settings = gateway_settings(records_url=echo_upstream.url)
    async with asgi_gateway(settings, token_issuer) as (app, http):
        listener = _listener(app)
        await _deliver(
            listener,
            AppointmentScheduled(
                appointment_id=uuid.uuid4(),
                session_id=uuid.uuid4(),
                clinician_id=uuid.uuid4(),
                client_id=user,
                starts_at=_now(),
                ends_at=_now() + timedelta(minutes=50),
            ),
        )
        await listener.apply(b"key", b"not a cloudevent", [])
        # A logout names a sign-in; a token that names none (older than the claim, or a
        # partner's) is not of it.
        await _deliver(
            listener,
            TokensRevoked(
                user_id=user, family_id=uuid.uuid4(), reason="logout", revoked_before=_now()
            ),
        )
        assert await _status(http, token, "/v1/goals/after-logout") == 200
    assert listener.applied == 1
