"""Each service's OpenAPI document carries the error tree's answers (shared/openapi.py)."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from shared.errors import Conflict, NotFound, RateLimited, install_error_handlers
from shared.openapi import document_errors, error_responses
from shared.tokens import CurrentPrincipal

ERROR = {"$ref": "#/components/schemas/ErrorBody"}


class Thing(BaseModel):
    name: str


class Taken(Conflict):
    """The name is taken."""


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    document_errors(app)

    @app.get("/things/{thing_id}")
    async def read(thing_id: uuid.UUID, principal: CurrentPrincipal) -> Thing:
        raise NotFound("no such thing")

    @app.patch("/things/{thing_id}")
    async def rename(thing_id: uuid.UUID, body: Thing) -> Thing:
        return body

    @app.post("/things", responses=error_responses(Taken, RateLimited))
    async def create(body: Thing) -> Thing:
        return body

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _schema(response: dict[str, object]) -> object:
    return response["content"]["application/json"]["schema"]  # type: ignore[index]


def test_validation_errors_are_documented_as_the_error_tree_s_body() -> None:
    document = _app().openapi()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["ErrorBody"]["required"]) == {"error", "detail"}
    create = document["paths"]["/things"]["post"]["responses"]
    assert _schema(create["422"]) == ERROR
    assert "422" not in document["paths"]["/health"]["get"]["responses"]


def test_secured_routes_document_401_and_403_and_path_parameters_404() -> None:
    paths = _app().openapi()["paths"]
    read = paths["/things/{thing_id}"]["get"]["responses"]
    rename = paths["/things/{thing_id}"]["patch"]["responses"]
    assert {"401", "403", "404", "422"} <= set(read)
    assert "401" not in rename and "404" in rename
    assert all(_schema(read[s]) == ERROR for s in ("401", "403", "404", "422"))


def test_a_route_declares_the_other_errors_it_raises_by_class() -> None:
    create = _app().openapi()["paths"]["/things"]["post"]["responses"]
    assert _schema(create["409"]) == ERROR and _schema(create["429"]) == ERROR
    assert create["409"]["description"] == "`Taken`: The name is taken."


async def test_405_allows_every_method_of_the_path_and_bad_bodies_are_422() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        refused = await http.delete(f"/things/{uuid.uuid4()}")
        garbled = await http.post(
            "/things", content=b"\x92\xa4", headers={"content-type": "application/json"}
        )
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, PATCH"
    assert garbled.status_code == 422
    # Not UTF-8: Starlette's own 400, answered as every other invalid body.
    assert garbled.json() == {
        "error": "InvalidRequest",
        "detail": "body: There was an error parsing the body",
    }
