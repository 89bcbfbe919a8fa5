"""Identity's use cases called directly: the parts HTTP cannot show (timing, rehashing)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from argon2 import PasswordHasher

from services.identity import repository
from services.identity.accounts import normalize_email
from services.identity.accounts import repository as accounts_repository
from services.identity.app import Identity, build_identity
from services.identity.errors import InvalidAccountDetails, InvalidCredentials, RoleNotSelfService
from services.identity.models import User
from services.identity.passwords import PasswordHashing, owasp_minimum_hasher
from services.identity.secret_box import SecretBox
from services.identity.settings import IdentitySettings
from services.identity.tokens import Keyring, TokenPolicy
from shared.db import Database
from shared.errors import Unauthorized
from shared.tokens import Principal


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting how often it verifies."""

    def __init__(self) -> None:
        base = owasp_minimum_hasher()
        super().__init__(
            time_cost=base.time_cost, memory_cost=base.memory_cost, parallelism=base.parallelism
        )
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Any:
        self.verifications += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
async def identity(
    settings: IdentitySettings, database: Database, hasher: CountingHasher
) -> AsyncIterator[Identity]:
    policy = TokenPolicy.from_settings(settings)
    yield build_identity(
        passwords=PasswordHashing(hasher),
        keyring=Keyring(
            database,
            retention=policy.key_retention,
            box=SecretBox(settings.secrets_key_bytes()),
        ),
        policy=policy,
    )


async def _create(identity: Identity, database: Database, **fields: str) -> User:
    values = {
        "email": "person@example.com",
        "password": "correct horse battery",
        "display_name": "Person",
        "role": "client",
        **fields,
    }
    async with database.unit_of_work() as session:
        return await identity.accounts.create_user(session, **values)


@pytest.mark.parametrize("email", ["known@example.com", "unknown@example.com"])
async def test_every_failed_login_costs_one_argon2_verify(
    identity: Identity, database: Database, hasher: CountingHasher, email: str
) -> None:
    await _create(identity, database, email="known@example.com")
    before = hasher.verifications
    with pytest.raises(InvalidCredentials):
        async with database.unit_of_work() as session:
            await identity.sign_in.log_in(session, email=email, password="wrong password")
    assert hasher.verifications - before == 1


async def test_login_rehashes_a_password_stored_with_weaker_parameters(
    identity: Identity, database: Database
) -> None:
    weak_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("old-but-good")
    async with database.unit_of_work() as session:
        user = await accounts_repository.add_user(
            session,
            User(
                email="veteran@example.com",
                display_name="Veteran",
                role="clinician",
                password_hash=weak_hash,
            ),
        )

    async with database.unit_of_work() as session:
        await identity.sign_in.log_in(session, email="veteran@example.com", password="old-but-good")

    async with database.unit_of_work() as session:
        stored = await repository.user_by_id(session, user.id)
    assert stored is not None
    assert stored.password_hash != weak_hash
    assert stored.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    async with database.unit_of_work() as session:
        logged_in = await identity.sign_in.log_in(
            session, email="veteran@example.com", password="old-but-good"
        )
    assert logged_in.user.id == user.id


async def test_registration_refuses_admin_but_the_operator_path_allows_it(
    identity: Identity, database: Database
) -> None:
    with pytest.raises(RoleNotSelfService):
        async with database.unit_of_work() as session:
            await identity.accounts.register(
                session,
                email="boss@example.com",
                password="correct horse battery",
                display_name="Boss",
                role="admin",
            )
    admin = await _create(identity, database, email="boss@example.com", role="admin")
    assert admin.role == "admin"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"password": "7chars!"}, "password"),
        ({"display_name": "   "}, "display_name"),
        ({"email": "nobody-at-example.com"}, "email"),
        ({"role": "superuser"}, "role"),
    ],
)
async def test_operator_created_accounts_follow_the_same_rules(
    identity: Identity, database: Database, fields: dict[str, str], problem: str
) -> None:
    with pytest.raises(InvalidAccountDetails, match=problem):
        await _create(identity, database, **fields)


def test_emails_are_normalized_to_lower_case() -> None:
    assert normalize_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"


async def test_signaling_tokens_need_an_existing_account(
    identity: Identity, database: Database
) -> None:
    stranger = Principal(
        subject=str(uuid.uuid4()), role="client", scopes=frozenset(), token_id="t", expires_at=0
    )
    with pytest.raises(Unauthorized):
        async with database.unit_of_work() as session:
            await identity.sign_in.issue_signaling_token(session, stranger, uuid.uuid4())
