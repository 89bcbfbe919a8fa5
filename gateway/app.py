"""The gateway's composition root."""

from __future__ import annotations

import functools

from fastapi import FastAPI

from gateway.cors import CorsPolicy
from gateway.edge import Edge, EdgeParts
from gateway.metrics import EdgeMetrics
from gateway.openapi import load_document
from gateway.pages import WebPages
from gateway.proxy import HttpProxy
from gateway.rate_limit import RateLimiter
from gateway.revocations import revocation_follower
from gateway.routing import RouteTable, Upstream, UpstreamDirectory
from gateway.security import EdgeAuthenticator, SecurityHeaders
from gateway.settings import GatewaySettings
from gateway.upstream_pool import PoolLimits, UpstreamPool
from gateway.websocket_proxy import RelayLimits, WebSocketRelay
from shared.errors import RapportError
from shared.forwarded import install_trusted_proxies
from shared.observability import ReadinessCheck
from shared.room_owners import OwnerDirectory
from shared.service_app import BackgroundTasks, build_service_app
from shared.tokens import JwksKeySource, KeySource, TokenVerifier

# Below uvicorn's default 5 s keep-alive timeout, so the gateway drops an idle pooled
# connection before the service does and never sends a request into a closing socket.
UPSTREAM_KEEPALIVE_SECONDS = 4.0


def create_app(settings: GatewaySettings, *, key_source: KeySource | None = None) -> FastAPI:
    """Build the gateway: its own health/readiness/metrics app behind the routing edge."""
    background = BackgroundTasks()
    pool = UpstreamPool(
        PoolLimits(
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_read_timeout,
            pool_timeout=settings.upstream_pool_timeout,
            max_connections_per_origin=settings.upstream_max_connections,
            idle_seconds=UPSTREAM_KEEPALIVE_SECONDS,
        )
    )
    background.on_shutdown(pool.aclose)
    http_proxy = HttpProxy(pool, health_check_seconds=settings.readiness_timeout)
    owners = None
    if settings.signaling_owners:
        owners = OwnerDirectory(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="gateway-owners",
            topic=settings.signaling_owners_topic,
        )
        background.add("signaling-owners", owners.run, stop=owners.stop)
    upstreams = UpstreamDirectory.from_settings(settings, owners)

    app = build_service_app(
        name="gateway",
        settings=settings,
        background=background,
        checks=_readiness_checks(http_proxy, upstreams),
        description="The public entry: routing, edge token checks, rate limits.",
    )
    verifier = TokenVerifier(
        key_source or JwksKeySource(settings.jwks_url),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )
    app.state.token_verifier = verifier
    # /openapi.json is the public API's document (gateway/openapi.py), not the gateway's own
    # few paths, which the document leaves out like every service's health endpoints.
    document = load_document()
    app.openapi = lambda: document  # type: ignore[method-assign]
    if settings.revocations_enabled:
        revocations = revocation_follower(
            verifier,
            bootstrap_servers=settings.kafka_bootstrap,
            lookback_seconds=settings.revocation_lookback_seconds,
        )
        background.add("revocations", revocations.run, stop=revocations.stop)
        app.state.revocations = revocations
    parts = EdgeParts(
        routes=RouteTable(),
        upstreams=upstreams,
        authenticator=EdgeAuthenticator(verifier),
        login_limiter=RateLimiter(
            per_minute=settings.login_rate_per_minute,
            burst=settings.login_burst,
            max_keys=settings.rate_limit_max_keys,
            refusal="too many attempts from this address; try again later",
        ),
        principal_limiter=_principal_limiter(settings),
        cors=CorsPolicy(
            settings.cors_allow_origins,
            allow_credentials=settings.cors_allow_credentials,
            max_age_seconds=settings.cors_max_age_seconds,
        ),
        http_proxy=http_proxy,
        websocket_relay=WebSocketRelay(
            RelayLimits(
                open_timeout=settings.upstream_connect_timeout,
                close_timeout=settings.upstream_connect_timeout,
                max_message_bytes=settings.websocket_max_message_bytes,
                handshake_seconds=settings.websocket_handshake_seconds,
            )
        ),
        security_headers=SecurityHeaders(hsts_max_age_seconds=settings.hsts_max_age_seconds),
        metrics=EdgeMetrics(),
        error_handler=app.exception_handlers[RapportError],
        pages=WebPages(settings.web_root, hsts_max_age_seconds=settings.hsts_max_age_seconds),
        access_log=settings.access_log,
    )
    app.add_middleware(Edge, parts=parts)
    # The server refuses these before it shuts down (gateway/__main__.py).
    app.state.websocket_handshakes = parts.handshakes
    # Again in front of the edge, which reads the client's address and scheme first (login
    # limits, X-Forwarded-For to the services, HSTS). build_service_app's copy, behind the
    # edge, sees the address already decided and so changes nothing.
    install_trusted_proxies(app, settings.trusted_proxies)
    return app


def _principal_limiter(settings: GatewaySettings) -> RateLimiter | None:
    if settings.principal_rate_per_minute == 0:
        return None
    return RateLimiter(
        per_minute=settings.principal_rate_per_minute,
        burst=settings.principal_burst,
        max_keys=settings.rate_limit_max_keys,
        refusal="too many requests for this account; try again later",
    )


def _readiness_checks(proxy: HttpProxy, upstreams: UpstreamDirectory) -> dict[str, ReadinessCheck]:
    checks: dict[str, ReadinessCheck] = {}
    for upstream in Upstream:
        members = upstreams.members(upstream)
        for index, base_url in enumerate(members):
            name = upstream.value if len(members) == 1 else f"{upstream.value}-{index}"
            checks[name] = functools.partial(proxy.check_health, base_url)
    return checks
