"""Fixtures for the whole suite: a real Kafka broker and a real PostgreSQL, started once."""

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.postgres"]
