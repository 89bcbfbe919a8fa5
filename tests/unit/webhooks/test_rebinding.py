"""DNS rebinding: an attempt connects to the address its check approved, never to a second
answer for the same name.

The partner's name is ``localhost``. The check's resolver answers 127.0.0.2 (an address the
operator allows here, standing in for a public one) and, asked again, 127.0.0.1, which is
what the system resolver says for ``localhost`` too. Two HTTPS receivers listen on the same
port, one on each address, with a certificate for ``localhost`` only: the one that takes the
request shows where the attempt went, and TLS succeeds only if the certificate was verified
against the name, not the address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import trustme
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.webhooks.destinations import DestinationPolicy, IPAddress, PinnedDestination
from services.webhooks.dispatcher import Dispatcher, pinned_request
from services.webhooks.service import AttemptOutcome, DueDelivery, RetryPolicy
from tests.support.waiting import not_hung
from tests.unit.webhooks.conftest import RunningService, StartService

CHECKED = "127.0.0.2"
REBOUND = "127.0.0.1"


@dataclass
class TlsReceiver:
    """An HTTPS receiver on one loopback address; records what reached it."""

    address: str
    hosts: list[str | None] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        await request.body()
        self.hosts.append(request.headers.get("host"))
        return Response(status_code=204)


@asynccontextmanager
async def serving(
    receiver: TlsReceiver, sock: socket.socket, certificate: trustme.LeafCert
) -> AsyncIterator[None]:
    def server_context(_config: uvicorn.Config, _default: Any) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)

        def note_server_name(_socket: Any, name: str | None, _context: Any) -> None:
            receiver.server_names.append(name)

        context.sni_callback = note_server_name
        return context

    app = Starlette(routes=[Route("/hooks", receiver.handle, methods=["POST"])])
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", ssl_context_factory=server_context
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


def same_port_on_both_addresses() -> tuple[socket.socket, socket.socket]:
    """Listening sockets on CHECKED and REBOUND with one port number."""
    for _ in range(20):
        checked = socket.create_server((CHECKED, 0))
        try:
            rebound = socket.create_server((REBOUND, checked.getsockname()[1]))
        except OSError:
            checked.close()
            continue
        return checked, rebound
    raise RuntimeError("no port free on both loopback addresses")


@dataclass
class RebindingDns:
    """Answers CHECKED to the first question, REBOUND to every later one."""

    questions: list[str] = field(default_factory=list)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.questions.append(host)
        answer = CHECKED if len(self.questions) == 1 else REBOUND
        return [ipaddress.ip_address(answer)]


@dataclass
class Partner:
    url: str
    checked: TlsReceiver
    rebound: TlsReceiver
    trusted: ssl.SSLContext


@pytest.fixture
async def partner() -> AsyncIterator[Partner]:
    ca = trustme.CA()
    certificate = ca.issue_cert("localhost")  # the name only: no IP address in it
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    checked_socket, rebound_socket = same_port_on_both_addresses()
    checked, rebound = TlsReceiver(CHECKED), TlsReceiver(REBOUND)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serving(checked, checked_socket, certificate))
        await stack.enter_async_context(serving(rebound, rebound_socket, certificate))
        port = checked_socket.getsockname()[1]
        yield Partner(f"https://localhost:{port}/hooks", checked, rebound, trusted)


async def attempt(webhooks: RunningService, partner: Partner, dns: RebindingDns) -> AttemptOutcome:
    policy = DestinationPolicy(allowed=(f"{CHECKED}/32",), resolver=dns.resolve)
    async with httpx.AsyncClient(
        verify=partner.trusted, follow_redirects=False, trust_env=False
    ) as client:
        dispatcher = Dispatcher(
            webhooks.database,
            client,
            destinations=policy,
            box=webhooks.app.state.secret_box,
            retry_policy=RetryPolicy(schedule=[]),
            timeout_seconds=30.0,
        )
        async with not_hung("a webhook attempt"):
            return await dispatcher.attempt(
                DueDelivery(
                    delivery_id="msg_rebinding",
                    endpoint_id=uuid.uuid4(),
                    url=partner.url,
                    secrets=["whsec_" + "A" * 44],
                    message={"type": "session.completed", "timestamp": "", "data": {}},
                    attempt_number=1,
                )
            )


async def test_the_attempt_goes_to_the_checked_address_with_the_name_kept(
    start_service: StartService, partner: Partner
) -> None:
    webhooks = await start_service(background=False)
    dns = RebindingDns()

    outcome = await attempt(webhooks, partner, dns)

    assert (outcome.status_code, outcome.error) == (204, None)
    assert dns.questions == ["localhost"]  # checked once; the connection asked no one again
    assert partner.rebound.hosts == [] and partner.rebound.server_names == []
    port = partner.url.split(":")[2].split("/")[0]
    assert partner.checked.hosts == [f"localhost:{port}"]
    # The TLS server name is the partner's name (and the certificate, which names only
    # localhost, was verified against it).
    assert partner.checked.server_names == ["localhost"]


async def test_a_name_that_rebinds_before_the_next_attempt_is_refused(
    start_service: StartService, partner: Partner
) -> None:
    webhooks = await start_service(background=False)
    dns = RebindingDns()

    first = await attempt(webhooks, partner, dns)
    second = await attempt(webhooks, partner, dns)

    assert first.status_code == 204
    assert second.status_code is None
    assert second.error is not None and second.error.startswith("refused: localhost resolves to")
    assert len(partner.checked.hosts) == 1 and partner.rebound.hosts == []


@pytest.mark.parametrize(
    ("url", "address", "sent_to", "host"),
    [
        (
            "https://partner.example/hooks",
            "93.184.216.34",
            "https://93.184.216.34/hooks",
            "partner.example",
        ),
        (
            "http://partner.example:8080/h?x=1",
            "2606:2800::1",
            "http://[2606:2800::1]:8080/h?x=1",
            "partner.example:8080",
        ),
        (
            "https://bücher.example/h",
            "93.184.216.34",
            "https://93.184.216.34/h",
            "xn--bcher-kva.example",
        ),
    ],
)
def test_a_pinned_request_names_the_address_and_keeps_the_host(
    url: str, address: str, sent_to: str, host: str
) -> None:
    pinned = PinnedDestination("ignored", 0, ipaddress.ip_address(address))

    target, headers, extensions = pinned_request(url, pinned)

    assert str(target) == sent_to
    assert headers["host"] == host
    assert extensions == {"sni_hostname": host.split(":")[0]}


def test_an_unchecked_destination_is_sent_as_it_is() -> None:
    # Private URLs allowed (development), or a host the operator allows by name.
    target, headers, extensions = pinned_request(
        "http://hooks.internal/x", PinnedDestination("hooks.internal", 80, None)
    )
    assert (str(target), headers, extensions) == ("http://hooks.internal/x", {}, {})
