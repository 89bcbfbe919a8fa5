from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.system import RapportSystem
from tests.support.otlp_receiver import OtlpReceiver


@pytest.fixture(scope="package")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """Where every process of the system sends its spans (tracing on, as an operator would)."""
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


# Package scope: the processes stop when the e2e tests are done, before other tests run.
@pytest.fixture(scope="package")
def rapport(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, postgres_server, tmp_path_factory, otlp_receiver: OtlpReceiver
) -> Iterator[RapportSystem]:
    """The whole system, started once for the end-to-end tests."""
    log_dir: Path = tmp_path_factory.mktemp("rapport-logs")
    # Two signaling processes behind the gateway: every end-to-end call crosses its routing.
    system = RapportSystem(
        kafka_bootstrap=kafka_bootstrap,
        postgres=postgres_server,
        log_dir=log_dir,
        signaling_processes=2,
        otlp_endpoint=otlp_receiver.endpoint,
    )
    try:
        system.start()
        yield system
    finally:
        system.stop()
    # Checked once every process has stopped and written its last line: the tests register
    # the tokens and clinical text they used (test_video_session.py puts tokens in URLs).
    leaks = system.leaks()
    assert not leaks, "secrets in the processes' logs:\n" + "\n".join(leaks)
