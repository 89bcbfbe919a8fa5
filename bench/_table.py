"""What every benchmark reports, so ``python -m bench`` can put all the figures in one table.

A bench prints its own figures for a person reading them, and also calls :func:`report` with
the same figures as :class:`Figure` records. When ``RAPPORT_BENCH_RESULTS`` names a file (the
runner and the quick-mode test set it), each figure is appended to it as one JSON line;
otherwise :func:`report` does nothing, and the bench still runs alone as before.

Also the servers the heavier benches need: :func:`kafka` and :func:`postgres` start their own
unless ``RAPPORT_BENCH_KAFKA_BOOTSTRAP`` / ``RAPPORT_BENCH_POSTGRES_DSN_BASE`` name running ones
(the test passes the test session's servers, so quick mode starts nothing twice).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_ENV = "RAPPORT_BENCH_RESULTS"
KAFKA_ENV = "RAPPORT_BENCH_KAFKA_BOOTSTRAP"
POSTGRES_ENV = "RAPPORT_BENCH_POSTGRES_DSN_BASE"


@dataclass(frozen=True)
class Figure:
    """One measured figure, with the baseline measured beside it in the same run (if any).

    ``higher_is_better`` says which way the ratio should go: throughput (True) or latency and
    memory (False). ``samples`` is how many operations the figure was measured over.
    """

    bench: str
    name: str
    value: float
    unit: str
    samples: int
    target: str = ""
    baseline: float | None = None
    baseline_name: str = ""
    higher_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline


def report(figures: Sequence[Figure]) -> None:
    """Append ``figures`` as JSON lines to the file named by ``RAPPORT_BENCH_RESULTS``, if set."""
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    with Path(path).open("a", encoding="utf-8") as out:
        for figure in figures:
            out.write(json.dumps(asdict(figure)) + "\n")


def read(path: Path) -> list[Figure]:
    """The figures appended to ``path`` by :func:`report`, in order."""
    if not path.exists():
        return []
    return [Figure(**json.loads(line)) for line in path.read_text().splitlines() if line]


def percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 of ``seconds``, in milliseconds (inclusive method: fine for few samples)."""
    if len(seconds) == 1:
        return seconds[0] * 1000, seconds[0] * 1000
    q = statistics.quantiles(seconds, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def table(figures: Sequence[Figure]) -> str:
    """The figures as one Markdown table: figure, value, target, baseline, ratio."""
    rows = [
        "| bench | figure | Rapport | target | baseline in the same run | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        baseline = f"{_number(f.baseline)} {f.unit} ({f.baseline_name})" if f.baseline else "—"
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else "—"
        rows.append(
            f"| {f.bench} | {f.name} | {_number(f.value)} {f.unit} | {f.target or '—'} "
            f"| {baseline} | {ratio} |"
        )
    return "\n".join(rows)


@contextlib.contextmanager
def kafka() -> Iterator[str]:
    """Bootstrap servers of a Kafka broker: ``RAPPORT_BENCH_KAFKA_BOOTSTRAP``'s, or our own."""
    external = os.environ.get(KAFKA_ENV, "").strip()
    if external:
        yield external
        return
    from devservers.kafka.launcher import KafkaCluster

    with KafkaCluster(nodes=1) as cluster:
        yield cluster.bootstrap_servers


@contextlib.contextmanager
def postgres(*names: str) -> Iterator[list[str]]:
    """asyncpg URLs of fresh databases ``names`` on ``RAPPORT_BENCH_POSTGRES_DSN_BASE``'s
    server, or on one of our own; dropped afterwards."""
    from devservers.postgres.launcher import DatabaseAdmin, ExternalPostgres, PostgresServer

    external = os.environ.get(POSTGRES_ENV, "").strip()
    server: PostgresServer | None = None
    admin: DatabaseAdmin
    if external:
        admin = ExternalPostgres(external)
    else:
        admin = server = PostgresServer()
        server.start()
    # Unique names: a shared server may hold another run's databases.
    unique = [f"{name}_{os.urandom(4).hex()}" for name in names]
    try:
        for name in unique:
            admin.create_database(name)
        yield [admin.async_url(name) for name in unique]
    finally:
        try:
            for name in unique:
                admin.drop_database(name)
        finally:
            if server is not None:
                server.stop()
