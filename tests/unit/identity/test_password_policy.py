"""The password policy: length 8 to 128, and none of the 10,000 most common passwords."""

from __future__ import annotations

import httpx
import pytest

from services.identity.passwords import (
    COMMON_PASSWORDS_FILE,
    common_passwords,
    password_problem,
)
from tests.unit.identity.factories import register


def test_the_shipped_list_holds_10000_distinct_lower_case_passwords() -> None:
    passwords = common_passwords()
    assert len(passwords) == 10_000
    assert all(p == p.lower() for p in passwords)
    assert {"password", "123456", "qwerty", "iloveyou", "letmein1"} <= passwords


def test_the_shipped_list_is_a_ranked_leaked_list_most_common_first() -> None:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    ranked = [line for line in lines if not line.startswith("#")]
    assert ranked[:5] == ["123456", "password", "12345678", "qwerty", "123456789"]
    assert len(ranked) == len(set(ranked)) == 10_000


@pytest.mark.parametrize(
    "password", ["password1", "PASSWORD123", "Qwerty123", "Trustno1", "SunShine1"]
)
def test_common_passwords_are_refused_whatever_their_case(password: str) -> None:
    assert password_problem(password) == "is one of the most common passwords; choose another"


@pytest.mark.parametrize(
    ("password", "allowed"),
    [
        ("k7#vq2L", False),
        ("k7#vq2Lm", True),
        ("w" * 64, True),
        ("w" * 128, True),
        ("w" * 129, False),
    ],
)
def test_length_is_8_to_128(password: str, allowed: bool) -> None:
    assert (password_problem(password) is None) is allowed


async def test_registration_with_a_common_password_is_refused(client: httpx.AsyncClient) -> None:
    response = await register(client, password="baseball1")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "InvalidAccountDetails"
    assert body["detail"] == "password: is one of the most common passwords; choose another"
