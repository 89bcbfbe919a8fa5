"""Code every Rapport service imports: settings, events over Kafka, outbox/inbox, tokens, errors."""
