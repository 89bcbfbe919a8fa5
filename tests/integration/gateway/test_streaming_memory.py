"""Bodies stream through a real gateway process: its memory does not grow with their size.

256 MiB go up (generated in chunks, hashed by the service as they arrive) and come back down;
the gateway's peak resident memory (VmHWM) is read from /proc before and after. A gateway that
buffered a body whole would grow by at least its size. A memory bound, not a timing one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx

from tests.integration.gateway.conftest import MIB, Process

BODY_MIB = 256
# Far below the body's size; well above what the gateway's buffers and the allocator's
# noise add (a few MiB).
GROWTH_LIMIT_KIB = 32 * 1024


def _chunks(count: int) -> Iterator[bytes]:
    for index in range(count):
        # Different bytes in every MiB, so a reordered or repeated chunk changes the hash.
        yield index.to_bytes(4, "big") * (MIB // 4)


def _expected_sha256(count: int) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(count):
        digest.update(chunk)
    return digest.hexdigest()


def _warm_up(gateway: Process, bearer: dict[str, str]) -> None:
    # Every code path of the transfer runs once, so its first-use allocations are not counted.
    with httpx.Client(base_url=gateway.url, timeout=60) as http:
        assert http.post("/v1/appointments/upload", headers=bearer, content=_chunks(4)).is_success
        assert http.get("/v1/sessions/download", params={"mib": 4}, headers=bearer).is_success


def test_a_large_upload_streams_through_without_the_gateway_growing(
    gateway: Process, bearer: dict[str, str]
) -> None:
    _warm_up(gateway, bearer)
    before = gateway.peak_rss_kib
    with httpx.Client(base_url=gateway.url, timeout=120) as http:
        response = http.post("/v1/appointments/upload", headers=bearer, content=_chunks(BODY_MIB))
    growth = gateway.peak_rss_kib - before
    print(f"\nupload {BODY_MIB} MiB: gateway peak RSS {before} KiB -> +{growth} KiB")
    assert response.status_code == 200
    assert response.json() == {"length": BODY_MIB * MIB, "sha256": _expected_sha256(BODY_MIB)}
    assert growth < GROWTH_LIMIT_KIB


def test_a_large_download_streams_through_without_the_gateway_growing(
    gateway: Process, bearer: dict[str, str]
) -> None:
    _warm_up(gateway, bearer)
    before = gateway.peak_rss_kib
    length = 0
    with (
        httpx.Client(base_url=gateway.url, timeout=120) as http,
        http.stream(
            "GET", "/v1/sessions/download", params={"mib": BODY_MIB}, headers=bearer
        ) as response,
    ):
        assert response.status_code == 200
        for chunk in response.iter_raw():
            length += len(chunk)
    growth = gateway.peak_rss_kib - before
    print(f"\ndownload {BODY_MIB} MiB: gateway peak RSS {before} KiB -> +{growth} KiB")
    assert length == BODY_MIB * MIB
    assert growth < GROWTH_LIMIT_KIB
