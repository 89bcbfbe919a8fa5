"""Demo data for local runs and the end-to-end tests: ``python -m services.identity seed-demo``.

Not a use case of the running service: only the command line seeds, and never in production
(the demo passwords are public).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity import repository
from services.identity.accounts import normalize_email
from services.identity.models import User

if TYPE_CHECKING:
    from services.identity.app import Identity


@dataclass(frozen=True)
class DemoAccount:
    """A demo login for local runs and the end-to-end tests."""

    email: str
    password: str
    display_name: str
    role: str


DEMO_ACCOUNTS: Final = (
    DemoAccount("clinician@demo.rapport", "demo-clinician-pass", "Dr. Demo Clinician", "clinician"),
    DemoAccount("client@demo.rapport", "demo-client-pass", "Demo Client", "client"),
    DemoAccount("admin@demo.rapport", "demo-admin-pass", "Demo Admin", "admin"),
)


@dataclass(frozen=True)
class SeededAccount:
    """A demo account and whether this run created it."""

    account: DemoAccount
    user_id: uuid.UUID
    created: bool


@dataclass(frozen=True)
class DemoSeed:
    """What seeding did: the demo accounts, and whether this run linked the demo client to
    the demo clinician (an accepted invitation)."""

    accounts: list[SeededAccount]
    linked: bool


async def seed_demo(identity: Identity, session: AsyncSession) -> DemoSeed:
    """Create the demo accounts that are missing (leaving existing ones untouched), and link
    the demo client to the demo clinician through an accepted invitation unless one links them
    already: records starts their care relationship from the event."""
    seeded = []
    users: dict[str, User] = {}
    for account in DEMO_ACCOUNTS:
        user = await repository.user_by_email(session, normalize_email(account.email))
        created = user is None
        if user is None:
            user = await identity.accounts.create_user(
                session,
                email=account.email,
                password=account.password,
                display_name=account.display_name,
                role=account.role,
            )
        seeded.append(SeededAccount(account=account, user_id=user.id, created=created))
        users[account.role] = user
    linked = await identity.invitations.link(session, users["clinician"], users["client"])
    return DemoSeed(accounts=seeded, linked=linked)
