"""``python -m gateway [serve]``: run the gateway with uvicorn."""

from __future__ import annotations

import argparse
import socket

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.websocket_proxy import QUEUED_MESSAGES, HeldHandshakes


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve"], help="what to do (serve)"
    )
    parser.parse_args(argv)
    serve(GatewaySettings())


# The longest shutdown waits for the refused handshakes' answers to be written.
REFUSAL_SECONDS = 5.0


class GatewayServer(uvicorn.Server):
    """uvicorn, refusing the WebSocket handshakes the gateway still holds with 503 and
    Retry-After before it shuts down; uvicorn's own answer to them would be a 500."""

    def __init__(self, config: uvicorn.Config, handshakes: HeldHandshakes) -> None:
        super().__init__(config)
        self._handshakes = handshakes

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self._handshakes.refuse_all(within_seconds=REFUSAL_SECONDS)
        await super().shutdown(sockets)


def serve(settings: GatewaySettings) -> None:
    """Serve the gateway on settings.host/port until interrupted."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        ws="websockets",
        ws_per_message_deflate=False,
        ws_max_size=settings.websocket_max_message_bytes,
        # Messages read from a client ahead of signaling taking them: beyond this the gateway
        # stops reading that client (backpressure), so a flood costs it a bounded amount.
        ws_max_queue=QUEUED_MESSAGES,
        ws_ping_interval=settings.websocket_ping_interval_seconds,
        ws_ping_timeout=settings.websocket_ping_timeout_seconds,
        # The app applies the trusted-proxy policy (shared/forwarded.py) and logs requests
        # without their query strings (the edge); uvicorn's own would do neither.
        proxy_headers=False,
        access_log=False,
        server_header=False,
        log_config=None,
        log_level=settings.log_level.lower(),
    )
    GatewayServer(config, app.state.websocket_handshakes).run()


if __name__ == "__main__":
    main()
