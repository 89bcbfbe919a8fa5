from tests.fixtures.kafka import kafka_bootstrap, kafka_cluster  # noqa: F401
