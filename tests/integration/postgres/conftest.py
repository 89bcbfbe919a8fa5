from tests.fixtures.postgres import fresh_database, postgres_server  # noqa: F401
