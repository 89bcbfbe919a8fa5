"""Each service and the gateway keep the promises of their OpenAPI documents.

schemathesis generates requests from each served document (valid and invalid ones) and runs
every check it has on the answers: no 5xx, only documented status codes, content types and
headers, bodies that match their schemas, schema-valid data accepted and invalid data
refused, and a secured route refusing a request without credentials. The caller is a real
principal (a signed-up clinician; an admin for webhooks; a participant's signaling token).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext
from schemathesis.config._auth import AuthConfig
from schemathesis.core.failures import Failure
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance

from deploy.openapi import service_documents
from gateway.openapi import load_document
from gateway.routing import Upstream
from shared.time_formats import IANA_NAME_PATTERN
from tests.unit.contracts.conftest import Target

# Enough to find a missing constraint or an undocumented answer; the whole module stays
# well under two minutes on two cores.
EXAMPLES = 8
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # The apps' documents are large; generation speed is not what this test is about.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# Refusals of schema-valid requests that JSON Schema cannot express, each with the reason.
# A plain InvalidRequest whose detail names none of these fails the run: the schema should
# have said so.
INEXPRESSIBLE_RULES: dict[str, str] = {
    # JSON Schema validates each value alone; it cannot compare one field with another.
    "must be after": "an end after its start (times, clock hours)",
    "must not be before first_day": "an exception's last day on or after its first",
    "go together": "a clock window needs both start and end",
    "need start and end": "extra hours need their window",
    "leaves room for": "invitations limited by max_participants",
    "each participant once": "no duplicates in a list of ids (uniqueItems is not enforced)",
    "hours after starts_at": "the longest appointment, measured between two fields",
    "every_n is required with cadence": "a measure's every_n goes with its cadence",
    # The schema bounds the year; an offset can still move the instant across 1970 or 3000.
    "must be between 1970-01-01 and 2999-12-31": "the calendar's bounds in UTC",
    # Who may leave a parameter out depends on the caller's role, not on the request.
    "required for a clinician": "a clinician names the client whose records they read",
    "a clinician names the client": "a clinician proposes goals to a named client",
    # Which codes ISO 3166 assigns is the standard's list (the schema gives their form), as is
    # whether a phone number is one a country's plan can dial; a region lies in one country.
    "not an ISO 3166": "a country or region code that ISO 3166 has not assigned",
    "is not in country": "a region of the country stated with it",
    "phone number": "a number that a country's numbering plan does not hold",
    # A signature's typed name: letters of any script (JSON Schema has no Unicode classes),
    # at least two of them, and the marks between them.
    "type your full name": "a typed name with at least two letters",
    "a name has letters": "a typed name of letters and the marks names use",
    # email-validator refuses special-use domains (.test, .invalid); format: email allows them.
    "special-use or reserved name": "an address that can never receive mail",
}
# The gateway serves every service's operations again: fewer examples each, enough to check
# the combined document and what the edge itself answers.
GATEWAY_FUZZ = settings(FUZZ, max_examples=3)


@schemathesis.check
def schema_valid_data_is_accepted_or_refused_by_rule(
    ctx: CheckContext, response: Any, case: Any
) -> bool | None:
    """``positive_data_acceptance``, except for refusals no schema can express.

    A valid request may name things that do not exist or break a rule of the domain (an
    unknown client, a slot outside the clinician's hours, a password on the common list):
    the error tree answers those with a 422 named after the refusal (a subclass of
    ``InvalidRequest``). A plain ``InvalidRequest`` is request validation, which the schema
    should have said, unless it is one of :data:`INEXPRESSIBLE_RULES`.
    """
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        if response.status_code == 422 and _inexpressible(response):
            return None
        raise


def _inexpressible(response: Any) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    if body.get("error") != "InvalidRequest":
        return True
    detail = str(body.get("detail", ""))
    return any(rule in detail for rule in INEXPRESSIBLE_RULES) or _unknown_zone(detail)


def _unknown_zone(detail: str) -> bool:
    """What the tz database holds is the server's to say; the schema gives a name's form. So
    a zone may be refused only when its name has that form (an empty one must not get here)."""
    refused = re.search(r"'([^']*)' is not an IANA time zone", detail)
    return refused is not None and re.fullmatch(IANA_NAME_PATTERN, refused.group(1)) is not None


def _authenticated(schema: BaseSchema, target: Target, scheme: str = "HTTPBearer") -> Target:
    """The token goes where the document's security scheme says, for schemathesis to leave
    out (or spoil) in the cases that test refusing a request without credentials."""
    schema.config.auth = AuthConfig(openapi={scheme: {"bearer": target.token}})
    return target


def _check(case: Any, target: Target) -> None:
    case.call_and_validate(
        base_url=target.url,
        excluded_checks=[positive_data_acceptance],
        additional_checks=[schema_valid_data_is_accepted_or_refused_by_rule],
    )


# The documents as the apps generate them (the gateway's: the file it serves), read once.
_DOCUMENTS = service_documents()
identity_schema = schemathesis.openapi.from_dict(_DOCUMENTS[Upstream.IDENTITY])
records_schema = schemathesis.openapi.from_dict(_DOCUMENTS[Upstream.RECORDS])
signaling_schema = schemathesis.openapi.from_dict(_DOCUMENTS[Upstream.SIGNALING])
webhooks_schema = schemathesis.openapi.from_dict(_DOCUMENTS[Upstream.WEBHOOKS])
notifications_schema = schemathesis.openapi.from_dict(_DOCUMENTS[Upstream.NOTIFICATIONS])
gateway_schema = schemathesis.openapi.from_dict(load_document())


@pytest.fixture(scope="module")
def authenticated_identity(identity: Target) -> Target:
    return _authenticated(identity_schema, identity)


@identity_schema.parametrize()
@FUZZ
def test_identity(case: Any, authenticated_identity: Target) -> None:
    _check(case, authenticated_identity)


@pytest.fixture(scope="module")
def authenticated_records(records: Target) -> Target:
    return _authenticated(records_schema, records)


@records_schema.parametrize()
@FUZZ
def test_records(case: Any, authenticated_records: Target) -> None:
    _check(case, authenticated_records)


@pytest.fixture(scope="module")
def authenticated_signaling(signaling: Target) -> Target:
    return _authenticated(signaling_schema, signaling, scheme="SignalingToken")


@signaling_schema.parametrize()
@FUZZ
def test_signaling(case: Any, authenticated_signaling: Target) -> None:
    _check(case, authenticated_signaling)


@pytest.fixture(scope="module")
def authenticated_webhooks(webhooks: Target) -> Target:
    return _authenticated(webhooks_schema, webhooks)


@webhooks_schema.parametrize()
@FUZZ
def test_webhooks(case: Any, authenticated_webhooks: Target) -> None:
    _check(case, authenticated_webhooks)


@pytest.fixture(scope="module")
def authenticated_notifications(notifications: Target) -> Target:
    return _authenticated(notifications_schema, notifications)


@notifications_schema.parametrize()
@FUZZ
def test_notifications(case: Any, authenticated_notifications: Target) -> None:
    _check(case, authenticated_notifications)


@pytest.fixture(scope="module")
def authenticated_gateway(gateway: Target) -> Target:
    return _authenticated(gateway_schema, gateway)


@gateway_schema.parametrize()
@GATEWAY_FUZZ
def test_gateway(case: Any, authenticated_gateway: Target) -> None:
    _check(case, authenticated_gateway)
