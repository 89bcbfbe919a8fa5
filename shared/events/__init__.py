"""Events between services: the catalog, the CloudEvents envelope, Kafka, outbox and inbox."""
