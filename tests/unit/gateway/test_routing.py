"""The route table: prefixes by whole segments, exact public endpoints, stable member choice."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.routing import (
    RouteTable,
    Transport,
    Upstream,
    UpstreamDirectory,
    choose_member,
    session_routing_key,
)

TABLE = RouteTable()


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/v1/auth/login", Upstream.IDENTITY),
        ("/v1/users/me", Upstream.IDENTITY),
        ("/v1/signaling-tokens", Upstream.IDENTITY),
        ("/.well-known/jwks.json", Upstream.IDENTITY),
        ("/v1/appointments", Upstream.RECORDS),
        ("/v1/goals/7/updates", Upstream.RECORDS),
        ("/v1/sessions/abc", Upstream.RECORDS),
        ("/v1/care-relationships/abc/discharge", Upstream.RECORDS),
        ("/v1/notes", Upstream.RECORDS),
        ("/v1/values", Upstream.RECORDS),
        ("/v1/clients/abc/fhir", Upstream.RECORDS),
        ("/v1/audit", Upstream.RECORDS),
        ("/v1/availability/exceptions", Upstream.RECORDS),
        ("/v1/clinicians/abc/slots", Upstream.RECORDS),
        ("/v1/signal", Upstream.SIGNALING),
        ("/v1/ice-servers", Upstream.SIGNALING),
        ("/v1/webhook-endpoints/1/deliveries", Upstream.WEBHOOKS),
    ],
)
def test_prefixes_route_to_their_service(path: str, upstream: Upstream) -> None:
    route = TABLE.match(path)
    assert route is not None
    assert route.upstream is upstream


@pytest.mark.parametrize("path", ["/v1/goalsX", "/v1/authentication", "/v1", "/", "/healthz/x"])
def test_a_prefix_matches_whole_segments_only(path: str) -> None:
    assert TABLE.match(path) is None


def test_only_signal_is_a_websocket_route() -> None:
    websocket_routes = [r.prefix for r in TABLE.routes if r.transport is Transport.WEBSOCKET]
    assert websocket_routes == ["/v1/signal"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/auth/register"),
        ("POST", "/v1/auth/login"),
        ("GET", "/.well-known/jwks.json"),
        ("HEAD", "/.well-known/jwks.json"),
    ],
)
def test_public_endpoints(method: str, path: str) -> None:
    route = TABLE.match(path)
    assert route is not None
    assert TABLE.is_public(route, method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/auth/login"),
        ("POST", "/v1/auth/login/"),
        ("POST", "/v1/auth/login/../../users/me"),
        ("POST", "/v1/auth/register/x"),
        ("GET", "/.well-known/other"),
        ("GET", "/v1/users/me"),
    ],
)
def test_everything_else_needs_a_token(method: str, path: str) -> None:
    route = TABLE.match(path)
    assert route is not None
    assert not TABLE.is_public(route, method, path)


def test_only_login_is_rate_limited() -> None:
    assert TABLE.is_rate_limited("POST", "/v1/auth/login")
    assert not TABLE.is_rate_limited("POST", "/v1/auth/register")
    assert not TABLE.is_rate_limited("GET", "/v1/auth/login")


def test_choose_member_is_stable_and_spreads_keys() -> None:
    members = [f"http://signaling-{i}:8003" for i in range(3)]
    keys = [f"session-{n}" for n in range(3000)]
    first = {key: choose_member(members, key) for key in keys}
    assert first == {key: choose_member(members, key) for key in keys}
    spread = Counter(first.values())
    assert set(spread) == set(members)
    assert min(spread.values()) > 800


def test_adding_a_member_only_moves_keys_to_it() -> None:
    members = [f"http://signaling-{i}:8003" for i in range(3)]
    grown = [*members, "http://signaling-3:8003"]
    keys = [f"session-{n}" for n in range(2000)]
    moved = [k for k in keys if choose_member(members, k) != choose_member(grown, k)]
    assert moved, "some keys must move to the new member"
    assert all(choose_member(grown, k) == "http://signaling-3:8003" for k in moved)


def test_without_a_key_the_first_member_serves() -> None:
    assert choose_member(["http://a", "http://b"], None) == "http://a"


def test_directory_needs_every_upstream() -> None:
    with pytest.raises(ValueError, match="webhooks"):
        UpstreamDirectory(
            {
                Upstream.IDENTITY: ["http://i"],
                Upstream.RECORDS: ["http://r"],
                Upstream.SIGNALING: ["http://s"],
            }
        )


def test_directory_strips_trailing_slashes() -> None:
    directory = UpstreamDirectory(
        {
            Upstream.IDENTITY: ["http://i/"],
            Upstream.RECORDS: ["http://r"],
            Upstream.SIGNALING: ["http://s1/", "http://s2"],
            Upstream.WEBHOOKS: ["http://w"],
            Upstream.NOTIFICATIONS: ["http://n"],
        }
    )
    assert directory.base_url(Upstream.IDENTITY) == "http://i"
    assert directory.members(Upstream.SIGNALING) == ("http://s1", "http://s2")


def test_the_session_id_query_parameter_is_the_signaling_routing_key() -> None:
    assert session_routing_key(b"session_id=abc&x=1") == "abc"
    assert session_routing_key(b"") is None
    members = ["http://signaling-1:8003", "http://signaling-2:8003"]
    # Both participants of one session land on the same member.
    assert choose_member(members, session_routing_key(b"session_id=s-1")) == choose_member(
        members, session_routing_key(b"x=2&session_id=s-1")
    )


SERVICE_ROUTERS = {
    Upstream.IDENTITY: "services.identity.api",
    Upstream.RECORDS: "services.records.api",
    Upstream.SIGNALING: "services.signaling.api",
    Upstream.WEBHOOKS: "services.webhooks.api",
    Upstream.NOTIFICATIONS: "services.notifications.api",
}


@pytest.mark.parametrize("upstream", list(SERVICE_ROUTERS))
def test_every_route_a_service_serves_is_reachable_through_the_gateway(upstream: Upstream) -> None:
    # A route added to a service but not to the gateway's table is a 404 for every client.
    import importlib

    from fastapi.routing import APIRoute, APIWebSocketRoute

    router = importlib.import_module(SERVICE_ROUTERS[upstream]).router
    # Routes left out of the API schema are operators' (e.g. signaling's /ops/rooms), not public.
    paths = [
        r.path
        for r in router.routes
        if isinstance(r, APIWebSocketRoute) or (isinstance(r, APIRoute) and r.include_in_schema)
    ]
    assert paths
    unreachable = {}
    for path in paths:
        concrete = path.replace("{", "").replace("}", "")
        route = TABLE.match(concrete)
        if route is None or route.upstream is not upstream:
            unreachable[path] = route.upstream if route else None
    assert unreachable == {}
