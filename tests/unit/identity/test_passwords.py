"""Password hashing: argon2id at the OWASP minimum, and what counts as a match."""

from __future__ import annotations

from argon2 import PasswordHasher

from services.identity.passwords import PasswordHashing


async def test_hashes_are_argon2id_at_the_owasp_minimum() -> None:
    passwords = PasswordHashing()
    password_hash = await passwords.hash("correct horse battery")
    assert password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert password_hash != await passwords.hash("correct horse battery")  # salted


async def test_verify_accepts_only_the_right_password() -> None:
    passwords = PasswordHashing()
    password_hash = await passwords.hash("correct horse battery")
    assert await passwords.verify(password_hash, "correct horse battery")
    assert not await passwords.verify(password_hash, "correct horse batterY")
    assert not await passwords.verify("not a hash at all", "correct horse battery")


async def test_weaker_hashes_need_rehashing_and_current_ones_do_not() -> None:
    passwords = PasswordHashing()
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw-123456")
    assert passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(await passwords.hash("pw-123456"))
