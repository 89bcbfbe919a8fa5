"""Every service's OpenAPI document says what its error handlers really answer.

The handlers in :mod:`shared.errors` answer every error as :class:`ErrorBody`; FastAPI's
generator knows nothing of them and documents a 422 ``HTTPValidationError`` that is never
sent. :func:`document_errors` rewrites each app's document once, when it is first asked for:

- 422 (request validation) is the error tree's body, with ``problems`` per field;
- an operation behind a bearer token documents 401 and 403 (every authenticated route may
  answer both);
- an operation with a path parameter documents 404 (the named resource may not exist);
- anything else a route raises is declared on the route itself with :func:`error_responses`,
  from the error classes it may raise.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.constants import REF_TEMPLATE
from pydantic import BaseModel

from shared.errors import (
    HTTP_METHODS,
    ErrorBody,
    Forbidden,
    InvalidRequest,
    NotFound,
    RapportError,
    Unauthorized,
)

# What FastAPI puts in every document, for a body no Rapport service sends.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _summary(error: type[RapportError]) -> str:
    doc = inspect.getdoc(error)
    own = error.__dict__.get("__doc__") is not None
    first_line = doc.strip().splitlines()[0] if doc and own else ""
    return f"`{error.__name__}`: {first_line}" if first_line else f"`{error.__name__}`"


def error_responses(*errors: type[RapportError]) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` for the errors a route may raise, one entry per status code."""
    by_status: dict[int, list[str]] = {}
    for error in errors:
        by_status.setdefault(error.status_code, []).append(_summary(error))
    return {
        status: {"model": ErrorBody, "description": "; ".join(summaries)}
        for status, summaries in sorted(by_status.items())
    }


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=ErrorBody.__name__)}}
        },
    }


_VALIDATION = _error_response(
    f"{_summary(InvalidRequest)} the request does not match this schema (each field in "
    "`problems`), or the service refused its values"
)
_UNAUTHORIZED = _error_response(f"{_summary(Unauthorized)} a missing, invalid or expired token")
_FORBIDDEN = _error_response(f"{_summary(Forbidden)} this caller may not do this")
_NOT_FOUND = _error_response(f"{_summary(NotFound)} nothing of that id is visible to the caller")


def _model_schemas(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE, mode="serialization")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return {**definitions, model.__name__: schema}


def with_error_responses(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the error responses every operation may answer (see the module)."""
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            # A route documenting "4XX" answers client errors in its own shape (the FHIR API's
            # OperationOutcomes), never the error tree's 422.
            validated = operation.get("parameters") or operation.get("requestBody")
            if "4XX" not in responses and ("422" in responses or validated):
                responses["422"] = _VALIDATION
            if operation.get("security"):
                responses.setdefault("401", _UNAUTHORIZED)
                responses.setdefault("403", _FORBIDDEN)
            if any(p.get("in") == "path" for p in operation.get("parameters", ())):
                responses.setdefault("404", _NOT_FOUND)
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas.update(_model_schemas(ErrorBody))
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    return document


def document_errors(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document carry the error responses (built once, then cached)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_error_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
