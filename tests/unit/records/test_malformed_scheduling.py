"""Malformed slot queries and bookings get a 4xx naming the field, never a 500.

Every case runs against the real app; an unhandled error inside it (which the test client
raises) counts as a 500.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.unit.records.conftest import T0, Records

LATER = T0 + timedelta(days=1)


async def _world(records: Records) -> dict[str, Any]:
    clinician = await records.register("clinician")
    client = await records.register("client")
    stranger = await records.register("client")
    await records.relate(clinician, client)
    await records.set_hours(clinician)
    return {"clinician": clinician, "client": client, "stranger": stranger}


async def _answer(request: Any) -> tuple[int, str]:
    try:
        response: httpx.Response = await request
    except Exception as exc:  # the app raised: what a real server answers with a 500
        return 500, repr(exc)
    return response.status_code, response.text


# (what is wrong, query parameters, the status, words the answer must hold)
SLOT_QUERIES: list[tuple[str, dict[str, str], int, tuple[str, ...]]] = [
    (
        "from after to",
        {"from": LATER.isoformat(), "to": T0.isoformat()},
        422,
        ("to", "after from"),
    ),
    ("from equal to to", {"from": T0.isoformat(), "to": T0.isoformat()}, 422, ("to",)),
    (
        "a window over 62 days",
        {"from": T0.isoformat(), "to": (T0 + timedelta(days=63)).isoformat()},
        422,
        ("to", "62 days"),
    ),
    (
        "a window over 62 days from the default from",
        {"to": (T0 + timedelta(days=3650)).isoformat()},
        422,
        ("to",),
    ),
    ("a naive from", {"from": "2030-03-04T09:00:00"}, 422, ("from", "timezone")),
    (
        "a naive to",
        {"from": T0.isoformat(), "to": "2030-03-05T09:00:00"},
        422,
        ("to", "timezone"),
    ),
    ("a date for from", {"from": "2030-03-04"}, 422, ("from",)),
    ("words for from", {"from": "tomorrow"}, 422, ("from",)),
    ("an empty from", {"from": ""}, 422, ("from",)),
    ("an empty to", {"to": ""}, 422, ("to",)),
    ("the last representable day", {"from": "9999-12-31T00:00:00Z"}, 422, ("from",)),
    (
        "a window ending at the end of time",
        {"from": "9999-12-30T00:00:00Z", "to": "9999-12-31T23:59:59Z"},
        422,
        ("to",),
    ),
    ("the first representable day", {"from": "0001-01-01T00:00:00Z"}, 422, ("from",)),
    ("an offset beyond a day", {"from": "2030-03-04T09:00:00+25:00"}, 422, ("from",)),
]


@pytest.mark.parametrize(
    ("case", "params", "status", "words"), SLOT_QUERIES, ids=[c[0] for c in SLOT_QUERIES]
)
async def test_a_malformed_slot_query_is_refused_naming_the_field(
    records: Records, case: str, params: dict[str, str], status: int, words: tuple[str, ...]
):
    world = await _world(records)
    url = f"/v1/clinicians/{world['clinician']}/slots"

    got, text = await _answer(
        records.http.get(url, params=params, headers=records.auth(world["client"]))
    )

    assert got == status, (case, text)
    for word in words:
        assert word in text, (case, word, text)


async def test_slots_of_an_unknown_or_malformed_clinician_are_refused(records: Records):
    world = await _world(records)
    unknown = uuid.uuid4()

    cases = {
        "unknown, asked by a client": (f"/v1/clinicians/{unknown}/slots", world["client"]),
        "unknown, asked by a clinician": (f"/v1/clinicians/{unknown}/slots", world["clinician"]),
        "not a uuid": ("/v1/clinicians/not-a-uuid/slots", world["client"]),
        "not their clinician": (f"/v1/clinicians/{world['clinician']}/slots", world["stranger"]),
    }
    answers = {
        case: await _answer(records.http.get(url, headers=records.auth(caller)))
        for case, (url, caller) in cases.items()
    }

    assert {case: status for case, (status, _) in answers.items()} == {
        "unknown, asked by a client": 403,
        "unknown, asked by a clinician": 403,
        "not a uuid": 422,
        "not their clinician": 403,
    }
    assert "clinician_id" in answers["not a uuid"][1]


def _times(starts: str, ends: str) -> dict[str, str]:
    return {"starts_at": starts, "ends_at": ends}


T0_ISO = T0.isoformat()
T0_END = (T0 + timedelta(minutes=50)).isoformat()

# (what is wrong, who books, the body beyond the parties, the status, words the answer holds)
BOOKINGS: list[tuple[str, str, dict[str, Any], int, tuple[str, ...]]] = [
    ("a naive start", "client", _times("2030-03-04T09:00:00", T0_END), 422, ("starts_at",)),
    ("a naive end", "clinician", _times(T0_ISO, "2030-03-04T09:50:00"), 422, ("ends_at",)),
    ("an end before the start", "client", _times(T0_END, T0_ISO), 422, ("ends_at",)),
    ("an end at the start", "clinician", _times(T0_ISO, T0_ISO), 422, ("ends_at",)),
    ("no end", "client", {"starts_at": T0_ISO}, 422, ("ends_at",)),
    ("words for a time", "client", _times("at nine", T0_END), 422, ("starts_at",)),
    (
        "the last representable day",
        "clinician",
        _times("9999-12-31T22:00:00Z", "9999-12-31T23:00:00Z"),
        422,
        ("starts_at",),
    ),
    (
        "the last representable day, booked by a client",
        "client",
        _times("9999-12-31T22:00:00Z", "9999-12-31T23:00:00Z"),
        422,
        ("starts_at",),
    ),
    (
        "the first representable day",
        "clinician",
        _times("0001-01-01T00:00:00+05:00", "0001-01-01T01:00:00+05:00"),
        422,
        ("starts_at",),
    ),
    (
        "an appointment lasting a year",
        "clinician",
        _times(T0_ISO, (T0 + timedelta(days=365)).isoformat()),
        422,
        ("ends_at",),
    ),
    (
        "an unknown clinician",
        "client:unknown-clinician",
        _times(T0_ISO, T0_END),
        422,
        ("clinician_id",),
    ),
    (
        "a malformed clinician",
        "client:bad-clinician",
        _times(T0_ISO, T0_END),
        422,
        ("clinician_id",),
    ),
    ("an unknown client", "clinician:unknown-client", _times(T0_ISO, T0_END), 422, ("client_id",)),
    ("a malformed client", "clinician:bad-client", _times(T0_ISO, T0_END), 422, ("client_id",)),
]


@pytest.mark.parametrize(
    ("case", "booker", "body", "status", "words"), BOOKINGS, ids=[c[0] for c in BOOKINGS]
)
async def test_a_malformed_booking_is_refused_naming_the_field(
    records: Records,
    case: str,
    booker: str,
    body: dict[str, Any],
    status: int,
    words: tuple[str, ...],
):
    world = await _world(records)
    who, _, twist = booker.partition(":")
    parties: dict[str, Any] = (
        {"clinician_id": str(world["clinician"])}
        if who == "client"
        else {"client_id": str(world["client"])}
    )
    if twist == "unknown-clinician":
        parties["clinician_id"] = str(uuid.uuid4())
    elif twist == "bad-clinician":
        parties["clinician_id"] = "not-a-uuid"
    elif twist == "unknown-client":
        parties["client_id"] = str(uuid.uuid4())
    elif twist == "bad-client":
        parties["client_id"] = "not-a-uuid"

    got, text = await _answer(
        records.http.post(
            "/v1/appointments", json={**parties, **body}, headers=records.auth(world[who])
        )
    )

    assert got == status, (case, text)
    for word in words:
        assert word in text, (case, word, text)


@pytest.mark.parametrize(
    ("case", "body", "words"),
    [
        ("a naive start", _times("2030-03-04T10:00:00", T0_END), ("starts_at",)),
        ("an end before the start", _times(T0_END, T0_ISO), ("ends_at",)),
        (
            "the last representable day",
            _times("9999-12-31T22:00:00Z", "9999-12-31T23:00:00Z"),
            ("starts_at",),
        ),
        ("a year long", _times(T0_ISO, (T0 + timedelta(days=365)).isoformat()), ("ends_at",)),
    ],
)
async def test_a_malformed_reschedule_is_refused_naming_the_field(
    records: Records, case: str, body: dict[str, str], words: tuple[str, ...]
):
    world = await _world(records)
    booked = await records.book(world["clinician"], world["client"])
    assert booked.status_code == 201, booked.text

    got, text = await _answer(
        records.http.post(
            f"/v1/appointments/{booked.json()['id']}/reschedule",
            json=body,
            headers=records.auth(world["clinician"]),
        )
    )

    assert got == 422, (case, text)
    for word in words:
        assert word in text, (case, word, text)
