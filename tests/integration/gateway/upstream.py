"""A stand-in service run as its own process behind a gateway process.

``python -m tests.integration.gateway.upstream <port> <jwks file>`` serves what the gateway's
process-level tests need from a service: the JWKS to verify tokens with, an endpoint echoing
the forwarding headers it received, an upload that is hashed as it streams in, a streamed
download, and a signaling WebSocket that floods its client, counting what it got to send (or,
``?mode=deaf``, reads nothing from its client until told to).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect

MIB = 1024 * 1024
_DOWNLOAD_CHUNK = bytes(range(256)) * 4096  # 1 MiB


def build(jwks: dict[str, Any]) -> FastAPI:
    app = FastAPI()
    flood: dict[str, int | bool] = {"sent": 0, "finished": False}
    listen = asyncio.Event()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/jwks.json")
    async def keys() -> dict[str, Any]:
        return jwks

    @app.api_route("/v1/auth/login", methods=["POST"])
    @app.get("/v1/goals/forwarded")
    async def forwarded(request: Request) -> dict[str, Any]:
        await request.body()
        return {
            "x-forwarded-for": request.headers.getlist("x-forwarded-for"),
            "x-forwarded-proto": request.headers.getlist("x-forwarded-proto"),
            "x-request-id": request.headers.getlist("x-request-id"),
        }

    @app.post("/v1/appointments/upload")
    async def upload(request: Request) -> dict[str, Any]:
        digest = hashlib.sha256()
        length = 0
        async for chunk in request.stream():
            digest.update(chunk)
            length += len(chunk)
        return {"length": length, "sha256": digest.hexdigest()}

    @app.get("/v1/sessions/download")
    async def download(mib: int) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(mib):
                yield _DOWNLOAD_CHUNK

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @app.get("/flood-progress")
    async def progress() -> dict[str, int | bool]:
        return flood

    @app.post("/deaf-listen")
    async def start_listening() -> dict[str, str]:
        listen.set()
        return {"status": "listening"}

    @app.websocket("/v1/signal")
    async def signal(websocket: WebSocket) -> None:
        if websocket.query_params.get("mode") == "deaf":
            await deaf(websocket)
            return
        total = int(websocket.query_params.get("mib", "64")) * MIB
        size = int(websocket.query_params.get("kib", "64")) * 1024
        await websocket.accept(subprotocol="rapport.signal.v1")
        flood.update(sent=0, finished=False)
        message = b"\x5a" * size
        try:
            # Each send waits while the connection's write buffer is full: how far this gets
            # while the far client reads nothing is what the gateway's backpressure allows.
            while flood["sent"] < total:
                await websocket.send_bytes(message)
                flood["sent"] = int(flood["sent"]) + size
            flood["finished"] = True
            await websocket.send_text("done")
            await websocket.receive_text()
        except WebSocketDisconnect:
            pass

    async def deaf(websocket: WebSocket) -> None:
        listen.clear()
        await websocket.accept(subprotocol="rapport.signal.v1")
        await listen.wait()
        received = 0
        while True:
            message = await websocket.receive()
            if message.get("text") == "done" or message["type"] == "websocket.disconnect":
                break
            received += len(message.get("bytes") or b"")
        await websocket.send_text(f"received:{received}")

    return app


def main(argv: list[str]) -> None:
    port, jwks_file = int(argv[0]), Path(argv[1])
    uvicorn.run(
        build(json.loads(jwks_file.read_text())),
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level="warning",
        lifespan="off",
    )


if __name__ == "__main__":
    main(sys.argv[1:])
