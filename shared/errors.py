"""One error tree for every service, and the handlers that turn it into responses.

Responses always look like ``{"error": "<ClassName>", "detail": "..."}`` so clients can branch
on ``error`` without parsing prose. Routes raise these; they never build HTTPExceptions.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

log = logging.getLogger(__name__)

# The keys of an OpenAPI path item that are operations.
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


class RapportError(Exception):
    """Base of every error a service raises on purpose."""

    status_code = 400

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class InvalidRequest(RapportError):
    status_code = 422


class Unauthorized(RapportError):
    """No credentials, or credentials that do not verify."""

    status_code = 401


class Forbidden(RapportError):
    """Authenticated, but not allowed to do this."""

    status_code = 403


class NotFound(RapportError):
    status_code = 404


class Conflict(RapportError):
    status_code = 409


class RateLimited(RapportError):
    status_code = 429


class ServiceUnavailable(RapportError):
    status_code = 503


class Problem(BaseModel):
    """One field of a request that did not validate."""

    field: str = Field(description="Where: the location and the field's path, dotted")
    message: str


class ErrorBody(BaseModel):
    """What every error answer looks like (its documentation in each OpenAPI document)."""

    # Some errors add fields of their own (``retry_after_seconds``, ``upstream``).
    model_config = ConfigDict(extra="allow")

    error: str = Field(description="The error's class name: branch on this", examples=["NotFound"])
    detail: str = Field(description="What went wrong, for people")
    problems: list[Problem] | None = Field(
        None, description="Request validation only: each field that did not validate"
    )


def _body(error: str, detail: Any, **extra: Any) -> dict[str, Any]:
    return {"error": error, "detail": detail, **extra}


async def _rapport_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RapportError)
    headers = dict(exc.headers)
    if isinstance(exc, Unauthorized):
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(
        _body(type(exc).__name__, exc.detail, **exc.extra),
        status_code=exc.status_code,
        headers=headers,
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return JSONResponse(_body("InvalidRequest", summary, problems=problems), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's own errors (unknown route, wrong method) in the same shape as ours.
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # A body that cannot even be decoded (not UTF-8, broken multipart) is as invalid as
        # one that does not validate: the same 422 every route documents.
        return JSONResponse(_body("InvalidRequest", f"body: {exc.detail}"), status_code=422)
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        # Starlette names the methods of the first route on the path; a path served by
        # several routes (GET and PATCH) allows them all.
        headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
    names = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthorized", 403: "Forbidden"}
    return JSONResponse(
        _body(names.get(exc.status_code, "HTTPError"), exc.detail),
        status_code=exc.status_code,
        headers=headers or None,
    )


def _allowed_methods(request: Request, named: str) -> str:
    methods = {m.strip() for m in named.split(",") if m.strip()}
    path = request.scope["path"]
    for template, operations in request.app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(path):
            methods |= {method.upper() for method in operations if method in HTTP_METHODS}
    return ", ".join(sorted(methods))


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(_body("InternalError", "an unexpected error occurred"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Map the error tree, validation errors and routing errors to JSON responses."""
    app.add_exception_handler(RapportError, _rapport_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
