"""Access rules: the one place that decides who may read or change what.

Every use case works inside the caller's unit of work (``db``) and never commits: the HTTP
request or the consumed event batch does, so a change, its audit entries and its outbox
events land together. ``db`` is the database session; "session" always means a therapy
session here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit, repository
from services.records.errors import (
    NoCareRelationship,
    NotYourRecord,
    UnknownClient,
)
from services.records.models import (
    CareRelationship,
    GoalUpdate,
)
from services.records.schemas import (
    GoalUpdateView,
)
from shared.db import utc_now
from shared.errors import Forbidden
from shared.events.catalog import (
    BreakGlassUsed,
)
from shared.events.outbox import add_event
from shared.scopes import PartnerScope
from shared.tokens import Principal

SOURCE = "/rapport/records"

PartyRole = Literal["clinician", "client"]
# Who reads a record: one of its parties, or a partner app acting for its clinician.
ReaderRole = Literal["clinician", "client", "partner"]

# FHIR Appointment statuses an appointment can still change from.
OPEN_STATUSES = ("proposed", "booked", "checked-in", "arrived")
# An appointment may start a little in the past: a session booked as it begins.
BOOKING_GRACE = timedelta(minutes=15)


# Access rules: the one place that decides who may read or change what.

# What a partner app's scopes (``PartnerScope``) allow here: identity issues them; the token's
# ``clinicians`` claim names the clinicians who granted the app access. A partner never reads
# notes, values, check-ins or the audit log, whatever its scopes.


def is_partner(principal: Principal) -> bool:
    return principal.role == "partner"


async def partner_clinicians(
    db: AsyncSession, principal: Principal, *scopes: PartnerScope
) -> frozenset[uuid.UUID]:
    """The clinicians whose records a partner app may use under ``scopes`` (all required).

    The token's ``clinicians`` claim, less every clinician who revoked the app's access at or
    after the token was issued (``iat``, whole seconds: a token from the revocation's own second
    counts as older). Identity stops naming a clinician in new tokens at once, but tokens
    already issued keep the claim until they expire; records hears of the revocation from
    ``partner.access_revoked`` and believes only tokens issued after it.

    Raises :class:`Forbidden` when the caller is not a partner or lacks a scope.
    """
    if not is_partner(principal):
        raise Forbidden("requires a partner app's token")
    missing = [scope for scope in scopes if scope not in principal.scopes]
    if missing:
        raise Forbidden(f"requires the scope {' and '.join(missing)}")
    granted = principal.claims.get("clinicians")
    if not isinstance(granted, list):
        return frozenset()
    clinicians = set()
    for value in granted:
        try:
            clinicians.add(uuid.UUID(str(value)))
        except ValueError:
            continue
    revocations = await repository.partner_revocations(db, principal.subject, clinicians)
    if revocations:
        issued_at = _issued_at(principal)
        clinicians -= {
            clinician
            for clinician, revoked_at in revocations.items()
            if issued_at is None or issued_at <= revoked_at
        }
    return frozenset(clinicians)


def _issued_at(principal: Principal) -> datetime | None:
    """When the token was issued (its ``iat``), or None when it does not say."""
    iat = principal.claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        return None
    return datetime.fromtimestamp(iat, UTC)


async def partner_for(
    db: AsyncSession, principal: Principal, clinician_id: uuid.UUID, *scopes: PartnerScope
) -> None:
    """A partner app with ``scopes`` acting for ``clinician_id``: :class:`Forbidden` without
    a scope, :class:`NotYourRecord` (also 403) for a clinician who granted it nothing (or
    revoked the grant after the token was issued)."""
    if clinician_id not in await partner_clinicians(db, principal, *scopes):
        raise NotYourRecord("this clinician has not granted your app access")


def party_role(principal: Principal, clinician_id: uuid.UUID, client_id: uuid.UUID) -> PartyRole:
    """The part the caller plays in a clinician-client pair, or :class:`NotYourRecord`."""
    caller = principal.user_id
    if caller == clinician_id:
        return "clinician"
    if caller == client_id:
        return "client"
    raise NotYourRecord("only this record's clinician and client may use it")


async def reader_role(
    db: AsyncSession,
    principal: Principal,
    clinician_id: uuid.UUID,
    client_id: uuid.UUID,
    resource_type: str,
    resource_id: object,
    *,
    partner_scope: PartnerScope | None = None,
) -> ReaderRole:
    """Like :func:`party_role` for reads, plus an admin who breaks the glass, and a partner
    app holding ``partner_scope`` for the record's clinician (when the read allows one).

    An admin reads clinical content only with a reason (the ``X-Break-Glass-Reason`` header
    on a read); each such read is audited with the reason and published as an event, and
    then sees what the clinician sees.
    """
    if is_partner(principal):
        if partner_scope is None:
            raise Forbidden("partner apps cannot read this")
        await partner_for(db, principal, clinician_id, partner_scope)
        return "partner"
    reason = audit.break_glass_reason.get()
    if principal.role != "admin" or not reason:
        return party_role(principal, clinician_id, client_id)
    await audit.record(db, principal, "break-glass", resource_type, [resource_id], reason=reason)
    add_event(
        db,
        BreakGlassUsed(
            admin_id=actor_uuid(principal),
            resource_type=resource_type,
            resource_id=str(resource_id),
            at=utc_now(),
        ),
        source=SOURCE,
    )
    return "clinician"


def actor_uuid(principal: Principal) -> uuid.UUID | None:
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        return None


def goal_update_view(
    update: GoalUpdate, reader_role: ReaderRole, reader_id: uuid.UUID | None
) -> GoalUpdateView:
    view = GoalUpdateView.model_validate(update).model_copy(
        update={"entered_in_error": update.entered_in_error_at is not None}
    )
    # The clinician sees every note on their client's goals; a client sees the notes they
    # wrote, never the clinician's (those stay private until shared notes exist); a partner
    # app sees ratings and never note text.
    if reader_role == "clinician" or (reader_role == "client" and update.author_id == reader_id):
        return view
    return view.model_copy(update={"note": None})


async def require_client(db: AsyncSession, client_id: uuid.UUID) -> None:
    user = await repository.get_known_user(db, client_id)
    if user is None or user.role != "client":
        raise UnknownClient(
            f"unknown client {client_id}: no registered client has this id (field client_id)",
            field="client_id",
        )


async def require_relationship(
    db: AsyncSession, clinician_id: uuid.UUID, client_id: uuid.UUID, field: str
) -> CareRelationship:
    """The pair's active care relationship, or :class:`NoCareRelationship` on ``field``."""
    relationship = await repository.get_active_relationship(db, clinician_id, client_id)
    if relationship is None:
        other = client_id if field == "client_id" else clinician_id
        raise NoCareRelationship(
            f"{field}: you have no active care relationship with {other}", field=field
        )
    return relationship
