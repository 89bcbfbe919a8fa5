"""The signaling service's settings (environment variables prefixed ``RAPPORT_SIGNALING_``)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class SignalingSettings(ServiceSettings):
    """Everything signaling reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_SIGNALING_", extra="ignore", populate_by_name=True
    )

    port: int = 8003
    database_url: str = "sqlite+aiosqlite:///./var/signaling.db"
    # docs/contracts.md: identity issues signaling tokens for this audience only.
    signaling_audience: str = "rapport-signaling"
    # A protocol message larger than this closes the socket with 4413.
    max_message_bytes: int = Field(65_536, ge=1_024)
    # The transport's own frame limit. It sits well above max_message_bytes so that an
    # oversized message reaches the app and gets the documented 4413; only frames beyond it
    # are cut off by the WebSocket layer itself (1009).
    transport_max_bytes: int = Field(1_048_576, ge=1_024)
    join_timeout_seconds: float = Field(10.0, gt=0)
    # Joins verifying their token or running their unit of work at once; the others wait
    # holding only their message. The database serves few at a time anyway (SQLite one
    # writer, PostgreSQL a pool of 30). With a whole storm in flight (every client of a
    # process reconnecting after a failover; bench/bench_signaling_idle.py), the joins'
    # short-lived objects interleave with the sockets' lasting ones and pin pymalloc's pools:
    # about 10 KiB more per idle socket, for as long as the sockets stay (docs/benchmarks.md).
    join_concurrency: int = Field(32, ge=1)
    # Per-connection token bucket; messages beyond it get a "too-fast" error, and a client
    # that keeps going past rate_limit_patience refused messages is closed with 4429.
    rate_limit_per_second: float = Field(50.0, gt=0)
    rate_limit_burst: int = Field(100, ge=1)
    rate_limit_patience: int = Field(50, ge=1)

    # Who may join is limited to a window around the appointment: from this many minutes
    # before its start to this many after its end.
    join_opens_minutes_before: float = Field(15.0, ge=0)
    join_closes_minutes_after: float = Field(30.0, ge=0)
    # The clinic's telehealth consent: the session's client joins only once they have signed
    # its current version (records' consent documents; closed with 4451 until then). Held
    # only once the clinic has published a version. Required by default: no client should be
    # in a telehealth session without consent on file; a clinic that collects it another way
    # turns this off.
    consent_required: bool = True
    # Keep-alive: WebSocket pings every ping_interval; no pong within ping_timeout closes the
    # socket. A client that sends no message at all (not even ``ping``) for idle_timeout is
    # closed with 4408.
    ping_interval_seconds: float = Field(20.0, gt=0)
    ping_timeout_seconds: float = Field(20.0, gt=0)
    idle_timeout_seconds: float = Field(120.0, gt=0)
    # A member whose socket drops keeps their place in the call this long (0: leave at once).
    resume_grace_seconds: float = Field(20.0, ge=0)
    # A session under way whose room everyone has left (dropped members count once their
    # grace period is over) ends after this long unless someone comes back.
    empty_room_timeout_seconds: float = Field(300.0, gt=0)
    # Browsers send Origin on the WebSocket handshake; one not listed here is refused (403)
    # so that another site cannot open signaling sockets with a user's credentials.
    # Non-browser clients send no Origin and are not affected.
    allowed_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"]
    )

    # Revocations from identity's events (deactivation, role change, refresh-token reuse)
    # close the user's sockets at once. Every signaling process reads them all (no consumer
    # group), from this far back on start: longer than a signaling token lives (5 minutes).
    revocations_enabled: bool = True
    revocation_lookback_seconds: float = Field(960.0, gt=0)

    # Room ownership (docs/signaling.md, "Rooms across processes"): "kafka" (the default, also
    # for one process) shares the rooms out through a Kafka consumer group; "local": this
    # process owns every room and writes no state (tests of one process without Kafka).
    room_ownership: Literal["kafka", "local"] = "kafka"
    # The rooms topic's partitions: at most this many processes share the rooms. Fixed once
    # the topic exists (session ids map to partitions by it).
    rooms_partitions: int = Field(12, ge=1, le=1_000)
    # The compacted topic of room states, whose partitions the group shares out.
    rooms_topic: str = "rapport.signaling.rooms"
    # The compacted topic where owners claim their partitions (the gateway follows it:
    # RAPPORT_GATEWAY_SIGNALING_OWNERS_TOPIC).
    owners_topic: str = "rapport.signaling.owners"
    # The consumer group every signaling process joins.
    rooms_group_id: str = "rapport-signaling-rooms"
    # Replication of the two topics when signaling creates them.
    rooms_replication_factor: int = Field(1, ge=1)
    # Failure detection: a process that sends no heartbeat for this long is taken out of the
    # group and its rooms go to the others. 6 s is the broker's default minimum
    # (group.min.session.timeout.ms) and twelve heartbeats: a process starved of CPU for a few
    # seconds keeps its rooms, a dead one loses them within 6 s.
    group_session_timeout_ms: int = Field(6_000, ge=1_000, le=10_000)
    # How often members heartbeat: also how soon the others hear of a rebalance.
    group_heartbeat_interval_ms: int = Field(500, ge=100)
    # Where the gateway reaches this process (default: http://<host>:<port>, or the host
    # name's address when listening on every interface, as in a container).
    advertised_url: str | None = None
    # On SIGTERM: how long to wait for the successors to claim this process's rooms.
    drain_successor_wait_seconds: float = Field(5.0, ge=0)
    # On SIGTERM: how long to wait for the clients to go once told to move.
    drain_clients_wait_seconds: float = Field(5.0, ge=0)

    # A member's connection stats are kept as a quality sample at most this often.
    quality_sample_interval_seconds: float = Field(10.0, gt=0)
    # The pre-call echo test (a server-side aiortc peer): this many at a time per process,
    # each stopped after echo_test_max_seconds.
    echo_test_max_concurrent: int = Field(4, ge=0)
    echo_test_max_seconds: float = Field(30.0, gt=0, le=300)
    # ICE servers handed to participants (none by default). TURN credentials are coturn's
    # TURN REST API ones, derived from turn_secret (coturn: use-auth-secret,
    # static-auth-secret=<the same secret>); they expire after turn_credential_ttl_seconds.
    stun_urls: list[str] = Field(default_factory=list)
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: SecretStr | None = None
    turn_credential_ttl_seconds: int = Field(3_600, ge=60, le=86_400)

    @model_validator(mode="after")
    def _transport_limit_above_message_limit(self) -> Self:
        if self.transport_max_bytes <= self.max_message_bytes:
            raise ValueError("transport_max_bytes must be larger than max_message_bytes")
        return self

    @model_validator(mode="after")
    def _turn_needs_a_secret(self) -> Self:
        if self.turn_urls and (self.turn_secret is None or not self.turn_secret.get_secret_value()):
            raise ValueError("turn_urls need turn_secret (coturn's static-auth-secret)")
        return self
