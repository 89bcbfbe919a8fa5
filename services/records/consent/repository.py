"""The SQL of consent documents and signatures."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import ConsentDocument, ConsentSignature


async def get_document(db: AsyncSession, document_id: uuid.UUID) -> ConsentDocument | None:
    return await db.get(ConsentDocument, document_id)


async def current_document(db: AsyncSession) -> ConsentDocument | None:
    """The highest version published, or None."""
    rows = await db.exec(
        select(ConsentDocument).order_by(col(ConsentDocument.version).desc()).limit(1)
    )
    return rows.first()


async def list_documents(db: AsyncSession) -> Sequence[ConsentDocument]:
    """Every version, newest first."""
    rows = await db.exec(select(ConsentDocument).order_by(col(ConsentDocument.version).desc()))
    return rows.all()


async def latest_signature(db: AsyncSession, client_id: uuid.UUID) -> ConsentSignature | None:
    """The client's most recent signature, withdrawn or not."""
    rows = await db.exec(
        select(ConsentSignature)
        .where(col(ConsentSignature.client_id) == client_id)
        .order_by(col(ConsentSignature.signed_at).desc(), col(ConsentSignature.version).desc())
        .limit(1)
    )
    return rows.first()


async def signatures_of_client(
    db: AsyncSession, client_id: uuid.UUID
) -> Sequence[ConsentSignature]:
    """Every signature the client made, oldest first."""
    rows = await db.exec(
        select(ConsentSignature)
        .where(col(ConsentSignature.client_id) == client_id)
        .order_by(col(ConsentSignature.signed_at))
    )
    return rows.all()
