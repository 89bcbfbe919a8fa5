"""The composition root: everything signaling needs, wired once per app."""

from __future__ import annotations

import gc
import socket
from datetime import timedelta

import uvicorn
from fastapi import FastAPI
from prometheus_client import Gauge

from services.signaling import events
from services.signaling.api import SignalingEdge, SignalingSocketRoute, router
from services.signaling.echo_test import EchoTestLab
from services.signaling.ice_servers import IceServerDirectory
from services.signaling.lean_websocket import LeanWebSocketProtocol
from services.signaling.ownership import RoomOwnership
from services.signaling.registry import LocalRoomRegistry, RoomRegistry
from services.signaling.service import Signaling
from services.signaling.settings import SignalingSettings
from shared import cli
from shared.db import Database
from shared.events.revocations import RevocationFollower
from shared.observability import ReadinessCheck
from shared.room_owners import OwnerDirectory
from shared.service_app import BackgroundTasks, add_event_pipeline, build_service_app
from shared.tokens import JwksKeySource, KeySource, TokenVerifier

SERVICE_NAME = "signaling"


def create_app(settings: SignalingSettings, *, key_source: KeySource | None = None) -> FastAPI:
    """Signaling's FastAPI app.

    ``key_source`` defaults to identity's JWKS over HTTP; tests pass the keys of their own
    token issuer. The app serves even while Kafka is unreachable: the relay keeps events in
    the outbox and the consumer retries in the background.
    """
    database = Database(settings.database_url)
    background = BackgroundTasks()
    background.on_shutdown(database.dispose)
    add_event_pipeline(
        background,
        service=SERVICE_NAME,
        settings=settings,
        database=database,
        router=events.build_router(),
    )

    verifier = TokenVerifier(
        key_source or JwksKeySource(settings.jwks_url),
        issuer=settings.token_issuer,
        audience=settings.signaling_audience,
        # A signaling token is presented once per join, so a large cache would only keep
        # every live socket's token and claims alive (about 2.5 KiB each, measured with
        # tracemalloc); a small one still serves repeated GET /v1/ice-servers.
        cache_size=256,
    )
    # Filled in further down (the rooms check): /readyz reads it when asked.
    checks: dict[str, ReadinessCheck] = {"database": database.ping}
    app = build_service_app(
        name=SERVICE_NAME,
        settings=settings,
        background=background,
        checks=checks,
        description="Live rooms: waiting room, admit/decline, SDP/ICE relay (rapport.signal.v1).",
    )
    app.state.database = database
    app.state.token_verifier = verifier
    rooms = LocalRoomRegistry()
    signaling = Signaling(
        rooms,
        ice_servers=IceServerDirectory(
            stun_urls=tuple(settings.stun_urls),
            turn_urls=tuple(settings.turn_urls),
            turn_secret=settings.turn_secret.get_secret_value() if settings.turn_secret else None,
            credential_lifetime=timedelta(seconds=settings.turn_credential_ttl_seconds),
        ),
        quality_sample_interval=timedelta(seconds=settings.quality_sample_interval_seconds),
        opens_before=timedelta(minutes=settings.join_opens_minutes_before),
        closes_after=timedelta(minutes=settings.join_closes_minutes_after),
        consent_required=settings.consent_required,
    )
    app.state.signaling = signaling
    _add_room_gauges(app, rooms)
    app.include_router(router)
    echo_tests = EchoTestLab(
        max_concurrent=settings.echo_test_max_concurrent,
        max_seconds=settings.echo_test_max_seconds,
    )
    background.on_shutdown(echo_tests.stop_all)
    ownership = _room_ownership(settings, background)
    if ownership is not None:
        app.state.room_ownership = ownership
        checks["rooms"] = ownership.check
    edge = SignalingEdge(
        echo_tests=echo_tests,
        signaling=signaling,
        database=database,
        verifier=verifier,
        settings=settings,
        ownership=ownership,
    )
    app.state.signaling_edge = edge
    background.add("idle-sockets", edge.close_idle, stop=edge.stop_closing_idle)
    if settings.revocations_enabled:
        # Every process reads every revocation: a user's sockets may be in any of them.
        follower = RevocationFollower(
            edge.revoke,
            client_id="signaling-revocations",
            bootstrap_servers=settings.kafka_bootstrap,
            lookback_seconds=settings.revocation_lookback_seconds,
        )
        background.add("revocations", follower.run, stop=follower.stop)
        app.state.revocations = follower
    # /v1/signal is the only endpoint of its own (health, readiness and metrics come with
    # build_service_app); it bypasses FastAPI's router to keep idle sockets small.
    app.add_middleware(SignalingSocketRoute, edge=edge)
    return app


def _room_ownership(
    settings: SignalingSettings, background: BackgroundTasks
) -> RoomOwnership | None:
    """This process's share of the rooms, from the consumer group (docs/signaling.md)."""
    if settings.room_ownership == "local":
        return None
    directory = OwnerDirectory(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="signaling-owners",
        topic=settings.owners_topic,
    )
    ownership = RoomOwnership(
        bootstrap_servers=settings.kafka_bootstrap,
        advertised_url=settings.advertised_url or _own_url(settings),
        partitions=settings.rooms_partitions,
        replication_factor=settings.rooms_replication_factor,
        session_timeout_ms=settings.group_session_timeout_ms,
        heartbeat_interval_ms=settings.group_heartbeat_interval_ms,
        directory=directory,
        rooms_topic=settings.rooms_topic,
        group_id=settings.rooms_group_id,
    )
    background.add("room-owners", directory.run, stop=directory.stop)
    background.add("room-ownership", ownership.run, stop=ownership.stop)
    return ownership


def _own_url(settings: SignalingSettings) -> str:
    """Where the gateway reaches this process unless told (RAPPORT_SIGNALING_ADVERTISED_URL):
    its listening address, or, listening on every interface (a container), its host name's
    address (a pod's IP)."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - reading the setting, not binding
        host = socket.gethostbyname(socket.gethostname())
    return f"http://{host}:{settings.port}"


def _add_room_gauges(app: FastAPI, rooms: RoomRegistry) -> None:
    """/metrics tells which process holds how much: its live rooms and their participants
    (read when scraped, so nothing is counted per connection)."""
    registry = app.state.metrics.registry
    Gauge(
        "rapport_signaling_rooms", "Live rooms held by this process", registry=registry
    ).set_function(lambda: len(rooms))
    Gauge(
        "rapport_signaling_participants",
        "Participants (waiting, in a call, or within the resume grace period) in this "
        "process's rooms",
        registry=registry,
    ).set_function(lambda: sum(len(room.participants) for room in rooms.rooms()))
    Gauge(
        "rapport_signaling_waiting_clients",
        "Participants in this process's waiting rooms, not yet admitted",
        registry=registry,
    ).set_function(lambda: sum(not p.admitted for room in rooms.rooms() for p in room.participants))
    Gauge(
        "rapport_signaling_connected_participants",
        "Participants whose peer connection is up, in this process's rooms",
        registry=registry,
    ).set_function(lambda: sum(p.connected for room in rooms.rooms() for p in room.participants))


def freeze_startup_objects() -> None:
    """Leave what imports and create_app() made out of the garbage collector's full passes.

    A full (generation 2) collection walks every tracked object, about 140,000 after start-up
    here, and took 78 ms on this machine: every socket waits meanwhile, which is what relay
    latency's p99 is made of. Start-up objects live as long as the process anyway, so they are
    frozen once, by the serving process only (``python -m services.signaling serve``).
    """
    gc.collect()
    gc.freeze()


def server_config(app: FastAPI, settings: SignalingSettings) -> uvicorn.Config:
    """How signaling is served: uvicorn's sans-I/O websockets protocol, trimmed
    (:mod:`services.signaling.lean_websocket`), without per-message compression (memory per
    idle socket: bench/bench_signaling_idle.py), keepalive pings, and
    a transport frame limit above the protocol's own so that an oversized message is answered
    with 4413."""
    # /v1/signal sockets enter the edge straight from the server, not through the FastAPI
    # app's middleware stack, whose frames would otherwise stay alive as long as each socket
    # (about 1.5 KiB each, measured with tracemalloc); everything else goes to the app.
    entry = SignalingSocketRoute(app, edge=app.state.signaling_edge)
    return cli.server_config(
        entry,
        settings,
        ws=LeanWebSocketProtocol,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ping_interval_seconds,
        ws_ping_timeout=settings.ping_timeout_seconds,
        ws_max_size=settings.transport_max_bytes,
        lifespan="on",
    )
