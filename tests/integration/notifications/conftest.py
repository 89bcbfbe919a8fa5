from tests.fixtures.kafka import kafka_bootstrap, kafka_cluster  # noqa: F401
from tests.fixtures.postgres import fresh_database, postgres_server  # noqa: F401
from tests.fixtures.smtp import smtp_server  # noqa: F401
