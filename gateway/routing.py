"""The route table: which path prefix goes to which service, and what is public.

Matching is by whole path segments (``/v1/goals`` matches ``/v1/goals`` and ``/v1/goals/…``,
never ``/v1/goalsX``), on the decoded path that the services route on too. Public endpoints
are exact method + path pairs, so no prefix, suffix or dot-segment trick turns a protected
path into a public one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs

from gateway.settings import GatewaySettings
from shared.room_owners import OwnerDirectory


class Upstream(StrEnum):
    """The services behind the gateway."""

    IDENTITY = "identity"
    RECORDS = "records"
    SIGNALING = "signaling"
    WEBHOOKS = "webhooks"
    NOTIFICATIONS = "notifications"


class Transport(StrEnum):
    """How a route is served: plain HTTP, or a WebSocket upgrade."""

    HTTP = "http"
    WEBSOCKET = "websocket"


@dataclass(frozen=True, slots=True)
class Route:
    """A path prefix served by one upstream over one transport."""

    prefix: str
    upstream: Upstream
    transport: Transport = Transport.HTTP
    # Public routes skip the edge token check; the service authenticates on its own terms
    # (signaling reads its token from the first WebSocket message).
    public: bool = False
    # The FHIR API's clients expect errors as OperationOutcomes (shared.fhir), so the edge's
    # own refusals on this route (401, 429, 502-504) take that shape too.
    errors_as_fhir: bool = False

    @property
    def path(self) -> str:
        """The label metrics and logs use for this route (bounded, unlike raw paths)."""
        return self.prefix

    def matches(self, path: str) -> bool:
        """True when ``path`` is the prefix itself or lies below it."""
        return path == self.prefix or path.startswith(self.prefix + "/")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One exact method and path."""

    method: str
    path: str


LOGIN = Endpoint("POST", "/v1/auth/login")

ROUTES: tuple[Route, ...] = (
    Route("/v1/auth", Upstream.IDENTITY),
    Route("/v1/users", Upstream.IDENTITY),
    Route("/v1/signaling-tokens", Upstream.IDENTITY),
    Route("/v1/partner-apps", Upstream.IDENTITY),
    Route("/v1/invitations", Upstream.IDENTITY),
    Route("/v1/guest-links", Upstream.IDENTITY),
    Route("/v1/guest-tokens", Upstream.IDENTITY),
    Route("/oauth", Upstream.IDENTITY),
    Route("/.well-known", Upstream.IDENTITY),
    Route("/v1/appointments", Upstream.RECORDS),
    Route("/v1/goals", Upstream.RECORDS),
    Route("/v1/sessions", Upstream.RECORDS),
    Route("/v1/care-relationships", Upstream.RECORDS),
    Route("/v1/notes", Upstream.RECORDS),
    Route("/v1/values", Upstream.RECORDS),
    Route("/v1/clients", Upstream.RECORDS),
    Route("/v1/audit", Upstream.RECORDS),
    Route("/v1/availability", Upstream.RECORDS),
    Route("/fhir", Upstream.RECORDS, errors_as_fhir=True),
    Route("/v1/clinicians", Upstream.RECORDS),
    Route("/v1/measures", Upstream.RECORDS),
    Route("/v1/safety-flags", Upstream.RECORDS),
    Route("/v1/places", Upstream.RECORDS),
    Route("/v1/clinic", Upstream.RECORDS),
    Route("/v1/consent", Upstream.RECORDS),
    Route("/v1/ice-servers", Upstream.SIGNALING),
    Route("/v1/signal", Upstream.SIGNALING, Transport.WEBSOCKET, public=True),
    Route("/v1/webhook-endpoints", Upstream.WEBHOOKS),
    Route("/v1/notifications", Upstream.NOTIFICATIONS),
)

PUBLIC_ENDPOINTS: frozenset[Endpoint] = frozenset(
    {
        Endpoint("POST", "/v1/auth/register"),
        LOGIN,
        # A refresh token is the credential here: the access token may have expired.
        Endpoint("POST", "/v1/auth/refresh"),
        Endpoint("POST", "/v1/auth/logout"),
        Endpoint("POST", "/v1/auth/password-reset"),
        Endpoint("POST", "/v1/auth/password-reset/confirm"),
        # Partner apps authenticate to the token endpoint with their client credentials.
        Endpoint("POST", "/oauth/token"),
        Endpoint("GET", "/.well-known/jwks.json"),
        Endpoint("HEAD", "/.well-known/jwks.json"),
        # SMART App Launch discovery: read by backend services before they hold a token.
        Endpoint("GET", "/.well-known/smart-configuration"),
        # The FHIR CapabilityStatement is public, as FHIR servers' metadata are.
        Endpoint("GET", "/fhir/metadata"),
        # A participant's signaling token (audience rapport-signaling), the credential the web
        # client holds for its call: signaling verifies it, as it does on the socket.
        Endpoint("GET", "/v1/ice-servers"),
        # The one-link unsubscribe from a reminder email: its signed token is the credential.
        Endpoint("GET", "/v1/notifications/unsubscribe"),
        Endpoint("POST", "/v1/notifications/unsubscribe"),
        # A guest has no token yet: the one-time link in the body is the credential.
        Endpoint("POST", "/v1/guest-tokens"),
    }
)

# Served by the gateway itself (health, readiness, metrics, the combined OpenAPI document);
# everything else is routed or 404.
OWN_PATHS: frozenset[str] = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


class RouteTable:
    """Finds the route for a path and says whether a request needs a token at the edge."""

    def __init__(
        self,
        routes: Sequence[Route] = ROUTES,
        public_endpoints: frozenset[Endpoint] = PUBLIC_ENDPOINTS,
        rate_limited_endpoints: frozenset[Endpoint] = frozenset({LOGIN}),
    ) -> None:
        # Longest prefix first, so a more specific route can be added under a general one.
        self._routes = tuple(sorted(routes, key=lambda r: len(r.prefix), reverse=True))
        self._public = public_endpoints
        methods: dict[str, set[str]] = {}
        for endpoint in public_endpoints:
            methods.setdefault(endpoint.path, set()).add(endpoint.method)
        self._public_methods = {path: frozenset(found) for path, found in methods.items()}
        self._rate_limited = rate_limited_endpoints

    @property
    def routes(self) -> tuple[Route, ...]:
        """Every route, longest prefix first."""
        return self._routes

    def match(self, path: str) -> Route | None:
        """The route serving ``path``, or None when no service owns it."""
        for route in self._routes:
            if route.matches(path):
                return route
        return None

    def is_public(self, route: Route, method: str, path: str) -> bool:
        """True when the request may pass the edge without an access token."""
        return route.public or Endpoint(method, path) in self._public

    def public_methods(self, path: str) -> frozenset[str]:
        """The methods that are public on ``path`` (none for most paths)."""
        return self._public_methods.get(path, frozenset())

    def is_rate_limited(self, method: str, path: str) -> bool:
        """True for endpoints limited per client address (login)."""
        return Endpoint(method, path) in self._rate_limited


class UpstreamDirectory:
    """Where each upstream service listens (base URLs without a trailing slash).

    With ``owners``, a signaling room's session goes to the process that owns it, as the
    owners publish it (shared/room_owners.py); the static signaling list, if any, is only
    the fallback while no owner is known (development, one process).
    """

    def __init__(
        self,
        members: Mapping[Upstream, Sequence[str]],
        *,
        owners: OwnerDirectory | None = None,
        owner_wait_seconds: float = 0.0,
    ) -> None:
        missing = [
            name
            for name in Upstream
            if not members.get(name) and not (name is Upstream.SIGNALING and owners is not None)
        ]
        if missing:
            raise ValueError(f"no address for upstream(s): {', '.join(missing)}")
        self._members = {
            name: tuple(u.rstrip("/") for u in members.get(name, ())) for name in Upstream
        }
        self.owners = owners
        # How long a signaling WebSocket waits for its room's owner to be known or to change
        # (a failover) before the client is answered 503.
        self.owner_wait_seconds = owner_wait_seconds

    @classmethod
    def from_settings(
        cls, settings: GatewaySettings, owners: OwnerDirectory | None = None
    ) -> UpstreamDirectory:
        """The addresses configured in ``settings``."""
        return cls(
            {
                Upstream.IDENTITY: [settings.identity_url],
                Upstream.RECORDS: [settings.records_url],
                Upstream.SIGNALING: settings.signaling_urls,
                Upstream.WEBHOOKS: [settings.webhooks_url],
                Upstream.NOTIFICATIONS: [settings.notifications_url],
            },
            owners=owners,
            owner_wait_seconds=settings.signaling_owner_wait_seconds,
        )

    def members(self, upstream: Upstream) -> tuple[str, ...]:
        """Every configured base URL of ``upstream`` (several only for signaling)."""
        return self._members[upstream]

    def base_url(self, upstream: Upstream, routing_key: str | None = None) -> str | None:
        """The base URL to send a request to; ``routing_key`` pins it to one member (for
        signaling: the room's owner). None: no signaling process is known to be ready."""
        if upstream is Upstream.SIGNALING and self.owners is not None:
            if routing_key is not None:
                owner = self.owners.owner_of(routing_key)
            else:
                owner = next((c.url for c in self.owners.claims() if c.ready), None)
            if owner is not None:
                return owner.rstrip("/")
        members = self._members[upstream]
        return choose_member(members, routing_key) if members else None


def session_routing_key(query_string: bytes) -> str | None:
    """The room a signaling WebSocket is for, from its ``?session_id=`` query parameter.

    A room lives in one signaling process, so every participant of a session must reach the
    same member; signaling refuses a join whose token names another session than this key.
    """
    values = parse_qs(query_string.decode("latin-1")).get("session_id")
    return values[0] if values else None


def choose_member(members: Sequence[str], routing_key: str | None) -> str:
    """Pick one member for ``routing_key`` by rendezvous (highest random weight) hashing.

    The same key always lands on the same member, and adding or removing a member only moves
    the keys that member gains or loses, which is what keeps a signaling room in one process.
    Without a key the first member is used.
    """
    if len(members) == 1 or routing_key is None:
        return members[0]
    return max(members, key=lambda member: _weight(member, routing_key))


def _weight(member: str, routing_key: str) -> bytes:
    return hashlib.blake2b(f"{member}\n{routing_key}".encode(), digest_size=8).digest()
