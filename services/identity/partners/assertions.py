"""Client assertions (RFC 7523 ``private_key_jwt``) as SMART App Launch 2.2's backend services
profile constrains them; pure checks, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

# SMART App Launch 2.2, backend services: servers SHALL support RS384 and ES384.
SIGNING_ALGORITHMS = ("RS384", "ES384")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The spec: exp no more than five minutes in the future.
MAX_LIFETIME_SECONDS = 300
# Clock difference tolerated between the partner and us, both ways.
LEEWAY_SECONDS = 30
MAX_JTI_LENGTH = 255


@dataclass(frozen=True)
class PartnerKey:
    """One public key that verifies a partner's assertions with one algorithm."""

    kid: str
    algorithm: str
    key: Any  # a cryptography public key


class InvalidAssertion(ValueError):
    """An assertion that does not authenticate its client; the message says why (for the
    partner's developer: never a key or a token)."""


@dataclass(frozen=True)
class AssertionHeader:
    """What the unverified assertion claims to be: whose, and signed with which key."""

    client_id: str
    kid: str
    algorithm: str


@dataclass(frozen=True)
class VerifiedAssertion:
    client_id: str
    jti: str
    expires_at: int


def read_header(assertion: str) -> AssertionHeader:
    """The client (``iss``), ``kid`` and ``alg`` of an assertion, before any verification.

    Only used to find the client and its key; nothing read here is trusted until
    :func:`verify` has checked the signature.
    """
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidAssertion("client_assertion is not a JWT") from exc
    algorithm = header.get("alg")
    if algorithm not in SIGNING_ALGORITHMS:
        raise InvalidAssertion(
            f"client_assertion must be signed with {' or '.join(SIGNING_ALGORITHMS)}"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidAssertion("client_assertion needs a kid header")
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise InvalidAssertion("client_assertion needs iss (the client id)")
    return AssertionHeader(client_id=issuer, kid=kid, algorithm=algorithm)


def verify(
    assertion: str,
    header: AssertionHeader,
    keys: Mapping[str, PartnerKey],
    *,
    token_url: str,
    now: int,
) -> VerifiedAssertion:
    """Check the assertion's signature and claims: ``iss`` = ``sub`` = the client id, ``aud``
    = the token endpoint's URL, ``exp`` in the future but at most five minutes away, a
    ``jti``. Whether the ``jti`` was used before is the caller's to check (it needs storage).
    """
    key = keys.get(header.kid)
    if key is None:
        raise InvalidAssertion("client_assertion's kid names no key registered for this client")
    if key.algorithm != header.algorithm:
        raise InvalidAssertion(f"key {header.kid} verifies {key.algorithm}, not {header.algorithm}")
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key.key,
            algorithms=[key.algorithm],
            audience=token_url,
            issuer=header.client_id,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidAssertion("client_assertion has expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidAssertion(f"client_assertion's aud must be {token_url}") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidAssertion("client_assertion's signature does not verify") from exc
    except jwt.PyJWTError as exc:
        raise InvalidAssertion(f"client_assertion is invalid: {exc}") from exc
    if claims["sub"] != header.client_id:
        raise InvalidAssertion("client_assertion's sub must equal its iss (the client id)")
    expires_at = claims["exp"]
    if not isinstance(expires_at, int) or expires_at > now + MAX_LIFETIME_SECONDS + LEEWAY_SECONDS:
        raise InvalidAssertion("client_assertion's exp must be at most 5 minutes away")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidAssertion(f"client_assertion's jti must be a string of 1..{MAX_JTI_LENGTH}")
    return VerifiedAssertion(client_id=header.client_id, jti=jti, expires_at=expires_at)
