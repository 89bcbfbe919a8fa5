"""Fixtures for the whole suite: a real Kafka broker and a real PostgreSQL, started once.

A test that cannot run fails rather than skips, unless tests/expected_skips.toml lists it.
"""

pytest_plugins = [
    "tests.support.expected_skips",
    "tests.fixtures.kafka",
    "tests.fixtures.postgres",
    "tests.fixtures.fhir_validator",
]
