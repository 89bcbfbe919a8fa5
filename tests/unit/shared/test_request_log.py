"""Each request is logged once, by the service's JSON logger, never with its query string.

A token a client puts in a URL (``?access_token=…``, a WebSocket's ``?token=…``) must not land
in a log: uvicorn's access log and its WebSocket handshake lines both write the query string.
Served the way ``python -m services.<name> serve`` serves (``shared.cli.server_config``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from fastapi import WebSocket

from shared.cli import server_config
from shared.service_app import BackgroundTasks, build_service_app
from shared.settings import ServiceSettings

TOKEN = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0LWFjY2Vzcy10b2tlbg.c2lnbmF0dXJl"
SOCKET_TOKEN = "signaling-token-in-a-url-7f3a"


@pytest.fixture(autouse=True)
def uvicorn_loggers_as_in_a_fresh_process() -> Any:
    """uvicorn sets its loggers' levels globally when a server in an earlier test was given a
    ``log_level``; ``serve`` gives none, so here they inherit the root's level as they do there."""
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve_and_call(settings: ServiceSettings) -> None:
    app = build_service_app(name="demo", settings=settings, background=BackgroundTasks(), checks={})

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @app.websocket("/v1/socket")
    async def socket_route(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    server = uvicorn.Server(server_config(app, settings))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        base = f"127.0.0.1:{settings.port}"
        async with httpx.AsyncClient(base_url=f"http://{base}") as http:
            answer = await http.get(
                "/v1/things/42",
                params={"access_token": TOKEN},
                headers={"X-Request-ID": "trace-7"},
            )
            assert answer.status_code == 200
        async with websockets.connect(f"ws://{base}/v1/socket?token={SOCKET_TOKEN}") as ws:
            assert await ws.recv() == "hello"
    finally:
        server.should_exit = True
        await serving


def _lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


async def test_requests_are_logged_without_their_query_strings(
    capfd: pytest.CaptureFixture[str],
) -> None:
    await _serve_and_call(ServiceSettings(port=_free_port()))
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert TOKEN not in output
    assert SOCKET_TOKEN not in output
    assert "access_token" not in output and "?token" not in output

    [request] = [line for line in _lines(output) if line["logger"] == "rapport.access"]
    assert request["message"] == "GET /v1/things/42 200"
    assert (request["method"], request["path"], request["status"]) == ("GET", "/v1/things/42", 200)
    assert request["request_id"] == "trace-7"
    assert request["client"] == "127.0.0.1"
    assert request["duration_ms"] >= 0
    # The handshake line stays, without its query string.
    handshakes = [line["message"] for line in _lines(output) if "WebSocket" in line["message"]]
    assert handshakes and all('"WebSocket /v1/socket"' in m for m in handshakes)


async def test_the_request_log_can_be_turned_off(capfd: pytest.CaptureFixture[str]) -> None:
    await _serve_and_call(ServiceSettings(port=_free_port(), access_log=False))
    captured = capfd.readouterr()
    assert not [
        line for line in _lines(captured.out + captured.err) if line["logger"] == "rapport.access"
    ]
