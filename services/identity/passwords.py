"""Password hashing with argon2id at the OWASP minimum cost, off the event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from pathlib import Path
from typing import Final, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PASSWORD_MIN_LENGTH: Final = 8
PASSWORD_MAX_LENGTH: Final = 128
COMMON_PASSWORDS_FILE: Final = Path(__file__).with_name("common_passwords.txt")
T = TypeVar("T")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of the 10,000 most common passwords, lower-cased (read once)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be used (NIST SP 800-63B section 5.1.1.2), or None if it may."""
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        return f"must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters long"
    if password.lower() in common_passwords():
        return "is one of the most common passwords; choose another"
    return None


@cache
def _argon2_threads() -> ThreadPoolExecutor:
    """One worker per core for every hash and verify in the process (threads start lazily).

    asyncio's default executor has cores + 4 workers, so eight logins at once ran six
    19 MiB argon2 computations on two cores, sharing the caches and leaving the event loop a
    seventh of a core. More at once cannot finish sooner; queued ones wait their turn.
    """
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="argon2")


def owasp_minimum_hasher() -> PasswordHasher:
    """argon2id, 19 MiB, 2 passes, 1 lane: the OWASP Password Storage Cheat Sheet minimum."""
    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class PasswordHashing:
    """Hashes and checks passwords.

    argon2 takes tens of milliseconds of CPU by design, and argon2-cffi releases the GIL while
    it works, so every hash and verify runs in a worker thread (one per core, shared by the
    process) instead of stalling the loop.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or owasp_minimum_hasher()
        # Made up front: if the first unknown-email login had to make it, that one login
        # would take twice as long as a wrong password and give the game away.
        self._decoy_hash = self._hasher.hash("decoy password that never matches")

    async def hash(self, password: str) -> str:
        """A fresh argon2id hash of ``password`` (salted, so never the same twice)."""
        return await self._off_loop(partial(self._hasher.hash, password))

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``; False for a corrupt hash too."""
        try:
            return await self._off_loop(partial(self._hasher.verify, password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    @staticmethod
    async def _off_loop(work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(_argon2_threads(), work)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with weaker parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def verify_decoy(self, password: str) -> None:
        """Spend the time of a real verify, for a login whose email matches no account.

        Without this an unknown email answers measurably faster than a wrong password, which
        tells an attacker which addresses have accounts.
        """
        await self.verify(self._decoy_hash, password)
