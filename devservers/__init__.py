"""Local Kafka and PostgreSQL for tests, benches and `make run`; not part of the image.

The Dockerfile copies shared/, services/, gateway/ and deploy/ only: production processes
never import this package (an import-linter contract holds that).
"""
