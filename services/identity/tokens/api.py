"""The JWKS: the public keys that verify Rapport tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from services.identity.tokens import schemas
from services.identity.tokens.service import Tokens
from shared.dependencies import SessionDep

router = APIRouter()


def _tokens(request: Request) -> Tokens:
    service: Tokens = request.app.state.identity.tokens
    return service


TokensDep = Annotated[Tokens, Depends(_tokens)]


@router.get("/.well-known/jwks.json", tags=["keys"])
async def jwks(session: SessionDep, tokens: TokensDep, response: Response) -> schemas.Jwks:
    """The public keys that verify Rapport tokens."""
    # Verifiers refetch on an unknown kid anyway; a short cache keeps rotations visible.
    response.headers["Cache-Control"] = "public, max-age=60"
    keys = await tokens.published_keys(session)
    return schemas.Jwks.model_validate({"keys": keys})
