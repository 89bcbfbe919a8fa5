"""Every benchmark still runs: each one in ``--quick`` mode, as ``python -m bench`` runs it.

Quick mode uses tiny sizes, so the figures say nothing about speed and nothing here looks at
how fast anything was; what must hold is that the bench ran against the real system to the
end and reported every figure it prints, each a real measurement (positive, finite, over the
operations it says it measured). Benches that need Kafka or PostgreSQL get the test session's.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench._table import KAFKA_ENV, POSTGRES_ENV, RESULTS_ENV, read
from tests.fixtures.postgres import DSN_BASE_ENV

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# The figures each bench reports in quick mode. A new bench must be listed here.
FIGURES = {
    "event_pipeline": 3,
    "gateway": 1,
    "identity": 3,
    "records_api": 8,
    "records_audit": 2,
    "records_slots": 1,
    "signaling_idle": 2,
    "signaling_join": 3,
    "signaling_relay": 16,
    "sqlite_writers": 1,
    "webhooks_catch_up": 3,
}
# Benches too heavy for the suite even at tiny sizes, each with the test that runs its flows.
NOT_RUN_HERE = {
    # A whole system with three signaling processes: tests/e2e/test_signaling_failover.py runs
    # the same kill -9 and drain flows through the same helpers (tests/e2e/flows, peers).
    "signaling_failover": "tests/e2e/test_signaling_failover.py",
}
NEEDS_KAFKA = {"event_pipeline", "signaling_idle", "signaling_relay"}
NEEDS_POSTGRES = {"event_pipeline", "signaling_idle", "webhooks_catch_up"}


def _benches() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py"))


def test_every_bench_is_listed() -> None:
    assert set(_benches()) == set(FIGURES) | set(NOT_RUN_HERE)
    assert not set(FIGURES) & set(NOT_RUN_HERE)
    assert all((ROOT / test).exists() for test in NOT_RUN_HERE.values())


@pytest.mark.parametrize("name", [b for b in _benches() if b not in NOT_RUN_HERE])
def test_bench_runs_in_quick_mode(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    results = tmp_path / "results.jsonl"
    env = {**os.environ, RESULTS_ENV: str(results)}
    if name in NEEDS_KAFKA:
        env[KAFKA_ENV] = request.getfixturevalue("kafka_bootstrap")
    if name in NEEDS_POSTGRES:
        server = request.getfixturevalue("postgres_server")
        env[POSTGRES_ENV] = getattr(server, "dsn_base", None) or os.environ[DSN_BASE_ENV]

    finished = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"bench_{name}.py"), "--quick"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # only against a hang
        check=False,
    )

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    figures = read(results)
    assert len(figures) == FIGURES.get(name), figures
    for figure in figures:
        assert figure.bench == name
        assert figure.samples > 0, figure
        # Memory per socket and CPU are differences of two readings (RSS, clock ticks of
        # 10 ms); at quick sizes they can be 0.
        positive = figure.unit not in ("KiB/socket", "% of a core")
        for value in (figure.value, figure.baseline):
            if value is not None:
                assert math.isfinite(value), figure
                assert value > 0 or not positive, figure
