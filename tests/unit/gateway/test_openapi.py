"""The combined OpenAPI document: what it keeps, what the edge adds, and that it is current."""

from __future__ import annotations

import json
from typing import Any

from deploy.openapi import combined_document, is_stale
from gateway.openapi import combine, load_document
from gateway.routing import RouteTable, Upstream
from shared.fhir import FHIR_JSON
from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import asgi_gateway, gateway_settings

ERROR = {"$ref": "#/components/schemas/ErrorBody"}


def _document(paths: dict[str, Any], schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "x", "version": "1"},
        "paths": paths,
        "components": {"schemas": {"ErrorBody": {"type": "object"}, **(schemas or {})}},
    }


def _operation(ref: str | None = None) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": ref}}} if ref else {}
    return {"responses": {"200": {"description": "ok", "content": content}}}


def test_the_stored_document_is_what_the_apps_generate() -> None:
    assert not is_stale(), "gateway/openapi.json is stale: run `python -m deploy.openapi`"


async def test_the_gateway_serves_it_at_openapi_json(token_issuer: TestTokenIssuer) -> None:
    async with asgi_gateway(gateway_settings(), token_issuer) as (_, http):
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == load_document()


def test_only_routes_the_gateway_routes_to_that_service_over_http_are_kept() -> None:
    documents = {upstream: _document({}) for upstream in Upstream}
    documents[Upstream.SIGNALING] = _document(
        {"/v1/ice-servers": {"get": _operation()}, "/ops/rooms": {"get": _operation()}}
    )
    # A path records documents but the gateway sends to identity is not records' to publish.
    documents[Upstream.RECORDS] = _document(
        {"/v1/goals": {"get": _operation()}, "/v1/users/me": {"get": _operation()}}
    )
    combined = combine(documents, RouteTable())
    assert sorted(combined["paths"]) == ["/v1/goals", "/v1/ice-servers"]


def test_the_edge_adds_its_own_answers() -> None:
    documents = {upstream: _document({}) for upstream in Upstream}
    documents[Upstream.IDENTITY] = _document(
        {
            "/v1/auth/login": {"post": _operation()},
            "/v1/auth/refresh": {"post": _operation()},
            "/v1/users/me": {"get": _operation()},
        }
    )
    paths = combine(documents, RouteTable())["paths"]
    protected = paths["/v1/users/me"]["get"]["responses"]
    login = paths["/v1/auth/login"]["post"]["responses"]
    refresh = paths["/v1/auth/refresh"]["post"]["responses"]
    assert {"401", "429", "502", "503", "504"} <= set(protected)
    assert "429" in login and "401" not in login
    assert "429" not in refresh and "401" not in refresh
    assert protected["503"]["content"]["application/json"]["schema"] == ERROR


def test_components_named_alike_but_different_are_told_apart() -> None:
    view = {"type": "object", "properties": {"a": {"type": "string"}}}
    other = {"type": "object", "properties": {"b": {"type": "integer"}}}
    documents = {upstream: _document({}) for upstream in Upstream}
    documents[Upstream.IDENTITY] = _document(
        {"/v1/users/me": {"get": _operation("#/components/schemas/View")}}, {"View": view}
    )
    documents[Upstream.RECORDS] = _document(
        {"/v1/goals": {"get": _operation("#/components/schemas/View")}}, {"View": other}
    )
    combined = combine(documents, RouteTable())
    schemas = combined["components"]["schemas"]
    assert schemas["View"] == view and schemas["RecordsView"] == other
    goals = combined["paths"]["/v1/goals"]["get"]["responses"]["200"]["content"]
    assert goals["application/json"]["schema"] == {"$ref": "#/components/schemas/RecordsView"}


def test_every_error_answer_in_the_public_document_is_the_error_tree_s() -> None:
    document = combined_document()
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if path.startswith("/fhir"):
                    # FHIR's clients get FHIR's error shape, the edge's own refusals too.
                    if status.startswith(("4", "5")):
                        assert list(response["content"]) == [FHIR_JSON], (method, path, status)
                elif status.startswith(("4", "5")) and path != "/oauth/token":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == ERROR, (method, path, status)


async def test_a_method_a_public_endpoint_does_not_take_is_405_not_401(
    token_issuer: TestTokenIssuer,
) -> None:
    async with asgi_gateway(gateway_settings(), token_issuer) as (_, http):
        response = await http.request("TRACE", "/v1/auth/login")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"] == "MethodNotAllowed"


def test_the_ice_servers_route_takes_a_signaling_token_past_the_edge() -> None:
    routes = RouteTable()
    route = routes.match("/v1/ice-servers")
    assert route is not None and routes.is_public(route, "GET", "/v1/ice-servers")
