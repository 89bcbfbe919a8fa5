"""A service's log lines carry the X-Request-ID the gateway forwarded, so one request can be
followed across processes."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from shared.service_app import BackgroundTasks, build_service_app
from shared.settings import ServiceSettings

log = logging.getLogger("tests.request_ids")


def _service_that_logs() -> httpx.AsyncClient:
    app = build_service_app(
        name="demo", settings=ServiceSettings(), background=BackgroundTasks(), checks={}
    )

    @app.get("/work")
    async def work() -> dict[str, str]:
        log.warning("handled")
        return {"ok": "yes"}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://demo")


async def _logged_request_ids(headers: dict[str, str], capsys: pytest.CaptureFixture[str]) -> list:
    async with _service_that_logs() as http:
        capsys.readouterr()
        answer = await http.get("/work", headers=headers)
    assert answer.status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    return [line.get("request_id") for line in lines if line["logger"] == log.name]


async def test_the_forwarded_request_id_is_on_the_services_log_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = await _logged_request_ids({"X-Request-ID": "edge-42.a"}, capsys)
    assert ids == ["edge-42.a"]


@pytest.mark.parametrize("header", [{}, {"X-Request-ID": "no spaces or\nnewlines allowed"}])
async def test_a_missing_or_malformed_request_id_is_not_logged(
    header: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    ids = await _logged_request_ids(header, capsys)
    assert ids == [None]
