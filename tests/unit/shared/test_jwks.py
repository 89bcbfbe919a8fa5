"""The JWKS key source against a real HTTP server publishing keys as identity does.

The server's key set changes as identity's would across a rotation; the source's clock is the
test's, so the refetch limits are checked without waiting for them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI

from shared.errors import Unauthorized
from shared.tokens import JwksKeySource, TokenVerifier
from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import ServedApp

MIN_REFRESH = 10.0
MAX_AGE = 300.0


@dataclass
class Jwks:
    """What identity publishes at /.well-known/jwks.json, and how often it was asked."""

    url: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def jwks() -> AsyncIterator[Jwks]:
    app = FastAPI()
    served_jwks = Jwks(url="")

    @app.get("/.well-known/jwks.json")
    async def keys() -> dict[str, Any]:
        served_jwks.fetches += 1
        return {"keys": served_jwks.keys}

    served = await ServedApp(app, lifespan="off").start()
    served_jwks.url = served.url + "/.well-known/jwks.json"
    yield served_jwks
    await served.stop()


def _source(jwks: Jwks, clock: Clock) -> JwksKeySource:
    return JwksKeySource(
        jwks.url, min_refresh_seconds=MIN_REFRESH, max_age_seconds=MAX_AGE, clock=clock
    )


def _issuer(kid: str) -> TestTokenIssuer:
    return TestTokenIssuer(kid=kid)


async def test_a_new_keys_tokens_pass_at_once_after_a_rotation(jwks: Jwks) -> None:
    old, new = _issuer("old-key"), _issuer("new-key")
    jwks.keys = list(old.jwks["keys"])
    clock = Clock()
    verifier = TokenVerifier(_source(jwks, clock), issuer=old.issuer, audience="rapport")
    user = uuid.uuid4()
    await verifier.verify(old.issue(user, "client"))
    assert jwks.fetches == 1

    # Identity rotates: the new key signs from now on, the old one is still published.
    jwks.keys = [*new.jwks["keys"], *old.jwks["keys"]]
    clock.now += 1  # well within the refetch interval
    # Many requests with new-key tokens at once: all pass, after one shared fetch.
    tokens = [new.issue(user, "client") for _ in range(50)]
    principals = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert {p.user_id for p in principals} == {user}
    assert jwks.fetches == 2
    # The old key's tokens still pass.
    assert (await verifier.verify(old.issue(user, "client"))).user_id == user
    assert jwks.fetches == 2


async def test_made_up_kids_cost_one_fetch_per_interval(jwks: Jwks) -> None:
    real = _issuer("real-key")
    jwks.keys = list(real.jwks["keys"])
    clock = Clock()
    source = _source(jwks, clock)
    assert await source.get("real-key") is not None
    assert jwks.fetches == 1

    made_up = await asyncio.gather(*(source.get(f"forged-{i}") for i in range(100)))
    assert made_up == [None] * 100
    assert jwks.fetches == 2  # the first forged kid's fetch; the others were refused
    clock.now += MIN_REFRESH - 1
    assert await source.get("forged-again") is None
    assert jwks.fetches == 2
    # Known keys are unaffected meanwhile.
    assert await source.get("real-key") is not None
    clock.now += 1
    assert await source.get("forged-later") is None
    assert jwks.fetches == 3


async def test_a_key_gone_from_the_jwks_stops_verifying_when_the_keys_are_next_fetched(
    jwks: Jwks,
) -> None:
    retired = _issuer("retired-key")
    jwks.keys = list(retired.jwks["keys"])
    clock = Clock()
    verifier = TokenVerifier(_source(jwks, clock), issuer=retired.issuer, audience="rapport")
    user = uuid.uuid4()
    assert (await verifier.verify(retired.issue(user, "client"))).user_id == user

    # Identity stops publishing a retired key once its tokens have expired.
    jwks.keys = list(_issuer("current-key").jwks["keys"])
    clock.now += MAX_AGE - 1
    assert (await verifier.verify(retired.issue(user, "client"))).user_id == user
    clock.now += 1
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify(retired.issue(user, "client"))
