"""FHIR over HTTP: the export of one client (``/v1/clients/{id}/fhir``), and the FHIR R4 REST
API (``/fhir``): reads, searches and the CapabilityStatement, in ``application/fhir+json``,
with errors as OperationOutcomes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from services.records import audit
from services.records.errors import FhirFormatNotSupported, FhirTypeNotSupported
from services.records.fhir import capability, rules, service
from services.records.fhir.search import OFFSET, SEARCH_PARAMETERS, Search, parse_search
from shared.dependencies import SessionDep
from shared.errors import RapportError
from shared.fhir import FHIR_JSON, operation_outcome
from shared.tokens import CurrentPrincipal

JSON_FORMATS = frozenset({"json", "application/json", FHIR_JSON})

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


@router.get(
    "/clients/{client_id}/fhir",
    response_class=JSONResponse,
    responses={200: {"content": {FHIR_JSON: {}}}},
)
async def export_client_fhir(
    principal: CurrentPrincipal, client_id: uuid.UUID, db: SessionDep
) -> JSONResponse:
    """The client's records as a FHIR R4 Bundle (their clinician, or a partner with fhir:read)."""
    bundle = await service.export_client_fhir(db, principal, client_id)
    return JSONResponse(bundle, media_type=FHIR_JSON)


def outcome_response(
    status_code: int, diagnostics: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An error as FHIR clients expect it: an OperationOutcome, in FHIR's media type."""
    return JSONResponse(
        operation_outcome(status_code, diagnostics),
        status_code=status_code,
        media_type=FHIR_JSON,
        headers=headers,
    )


class FhirRoute(APIRoute):
    """A route whose errors (the shared tree's, and invalid parameters) are answered as
    OperationOutcomes instead of the other APIs' ``{"error", "detail"}`` body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RapportError as exc:
                # 422 is the other APIs' "unprocessable input"; FHIR says 400 for a bad request.
                status = 400 if exc.status_code == 422 else exc.status_code
                return outcome_response(status, exc.detail, exc.headers)
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
                    for error in exc.errors()
                )
                return outcome_response(400, problems)

        return answer


OUTCOME = {"content": {FHIR_JSON: {"schema": {"type": "object", "title": "OperationOutcome"}}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid search or id (OperationOutcome)", **OUTCOME},
    401: {"description": "No valid token (OperationOutcome)", **OUTCOME},
    403: {"description": "The caller may not read this type (OperationOutcome)", **OUTCOME},
    404: {"description": "Unknown type, or no such resource for you (OperationOutcome)", **OUTCOME},
    406: {"description": "A _format other than JSON (OperationOutcome)", **OUTCOME},
    # Invalid parameters are 400s here, never the other APIs' 422 (FhirRoute).
    "4XX": {"description": "Any other refusal (OperationOutcome)", **OUTCOME},
}

fhir_router = APIRouter(
    prefix="/fhir",
    tags=["fhir"],
    route_class=FhirRoute,
    dependencies=[Depends(audit.request_context)],
)


def _base_url(request: Request) -> str:
    public: str = request.app.state.settings.public_url
    return f"{public.rstrip('/')}/fhir"


def _resource_type(resource_type: str) -> str:
    if resource_type not in SEARCH_PARAMETERS:
        raise FhirTypeNotSupported(
            f"this server has no resource type {resource_type!r}; "
            f"it serves {', '.join(SEARCH_PARAMETERS)}"
        )
    return resource_type


def _query(request: Request) -> list[tuple[str, str]]:
    items = []
    for name, value in request.query_params.multi_items():
        if name == "_format":
            if value not in JSON_FORMATS:
                raise FhirFormatNotSupported("only JSON is served (_format=json)")
            continue
        items.append((name, value))
    return items


def _fhir(resource: dict[str, Any]) -> JSONResponse:
    return JSONResponse(resource, media_type=FHIR_JSON)


@fhir_router.get("/metadata", responses={200: {"content": {FHIR_JSON: {}}}, **ERRORS})
async def capability_statement(request: Request) -> JSONResponse:
    """The CapabilityStatement: what this FHIR R4 server reads and searches, and how a
    client authenticates (SMART backend services)."""
    _query(request)
    public: str = request.app.state.settings.public_url
    return _fhir(capability.capability_statement(_base_url(request), public.rstrip("/")))


@fhir_router.get("/{resource_type}", responses={200: {"content": {FHIR_JSON: {}}}, **ERRORS})
async def search(
    request: Request, resource_type: str, principal: CurrentPrincipal, db: SessionDep
) -> JSONResponse:
    """Search one resource type: ``patient``, its date and status parameters, ``_id``,
    ``_lastUpdated``, ``_count`` (≤ 200); a ``searchset`` Bundle with a ``next`` link while
    more match."""
    found = parse_search(_resource_type(resource_type), _query(request))
    resources, total = await service.search_resources(db, principal, found)
    base = _base_url(request)
    return _fhir(
        rules.searchset(
            resources,
            base_url=base,
            self_url=_page_url(base, request, found, found.offset),
            next_url=_page_url(base, request, found, found.offset + found.count)
            if found.offset + found.count < total
            else None,
            total=total,
        )
    )


def _page_url(base: str, request: Request, found: Search, offset: int) -> str:
    kept = [(n, v) for n, v in request.query_params.multi_items() if n not in (OFFSET, "_count")]
    kept += [("_count", str(found.count))]
    if offset:
        kept.append((OFFSET, str(offset)))
    return f"{base}/{found.resource_type}?{urlencode(kept)}"


@fhir_router.get(
    "/{resource_type}/{resource_id}", responses={200: {"content": {FHIR_JSON: {}}}, **ERRORS}
)
async def read(
    request: Request,
    resource_type: str,
    resource_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: SessionDep,
) -> JSONResponse:
    """Read one resource by its id."""
    _query(request)
    resource = await service.read_resource(
        db, principal, _resource_type(resource_type), resource_id
    )
    return _fhir(resource)
