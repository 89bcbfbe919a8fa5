"""Identity's command line: ``python -m services.identity <command>``.

Commands: ``serve``, ``migrate``, ``rotate-keys``, ``create-user`` and ``seed-demo``. The admin
commands write straight to the database (events go to the outbox, which the running service
relays), so they work while Kafka is down.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from services.identity.app import Identity, build_identity_service, create_app
from services.identity.models import ROLES
from services.identity.seed import seed_demo as seed_demo_accounts
from services.identity.settings import IdentitySettings, MissingSecretsKey
from shared.cli import ServiceCommands
from shared.db import Database
from shared.migrations import upgrade

MIGRATIONS = Path(__file__).parent / "migrations"

T = TypeVar("T")


def _with_identity(
    settings: IdentitySettings,
    use_case: Callable[[Identity, Database], Awaitable[T]],
) -> T:
    async def main() -> T:
        database = Database(settings.database_url)
        try:
            return await use_case(build_identity_service(settings, database), database)
        finally:
            await database.dispose()

    return asyncio.run(main())


def rotate_keys(settings: IdentitySettings, _: argparse.Namespace) -> int:
    """Add a signing key that signs from now on and retire the current one."""

    async def rotate(identity: Identity, database: Database) -> None:
        async with database.unit_of_work() as session:
            rotation = await identity.tokens.rotate_signing_keys(session)
        print(f"new signing key: {rotation.new_kid}")
        for kid in rotation.retired_kids:
            print(f"retired: {kid} (still verifies until its tokens have expired)")

    _with_identity(settings, rotate)
    return 0


def create_user(settings: IdentitySettings, args: argparse.Namespace) -> int:
    """Create an account of any role, including admin."""
    password = args.password
    if password is None:
        # Prompting keeps the password out of shell history and the process list.
        password = getpass.getpass("password: ")

    async def create(identity: Identity, database: Database) -> None:
        async with database.unit_of_work() as session:
            user = await identity.accounts.create_user(
                session,
                email=args.email,
                password=password,
                display_name=args.display_name,
                role=args.role,
            )
        print(f"created {user.role} {user.email} id={user.id}")

    _with_identity(settings, create)
    return 0


def seed_demo(settings: IdentitySettings, _: argparse.Namespace) -> int:
    """Create the demo accounts that are missing (migrating first) and print their logins."""
    if settings.environment == "production":
        print("seed-demo refuses to run in production: demo passwords are public", file=sys.stderr)
        return 2
    upgrade(MIGRATIONS, settings.database_url)

    async def seed(identity: Identity, database: Database) -> None:
        async with database.unit_of_work() as session:
            seeded = await seed_demo_accounts(identity, session)
        for entry in seeded.accounts:
            account = entry.account
            state = "created" if entry.created else "exists "
            print(
                f"{state} {account.role:<9} {account.email:<24} "
                f"password={account.password:<20} id={entry.user_id}"
            )
        state = "linked " if seeded.linked else "exists "
        print(f"{state} the demo client accepted the demo clinician's invitation")

    _with_identity(settings, seed)
    return 0


COMMANDS = ServiceCommands(
    "services.identity",
    __doc__,
    settings=IdentitySettings,
    create_app=create_app,
    migrations=MIGRATIONS,
)
COMMANDS.add("rotate-keys", "start signing with a new key and retire the current one", rotate_keys)
_create = COMMANDS.add("create-user", "create an account of any role", create_user)
_create.add_argument("--email", required=True)
_create.add_argument("--password", help="the account's password (prompted for when left out)")
_create.add_argument("--display-name", required=True)
_create.add_argument("--role", required=True, choices=ROLES)
COMMANDS.add(
    "seed-demo",
    "create the demo clinician, client and admin if missing, and link the client",
    seed_demo,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    try:
        return COMMANDS.main(argv)
    except MissingSecretsKey as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
