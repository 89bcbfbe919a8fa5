"""The webhooks service: partner subscriptions, signed delivery with retries, the delivery log.

Partners register endpoints for event types; events consumed from Kafka become one delivery
per matching endpoint, and a dispatcher sends each one, signed the Standard Webhooks way,
retrying on a schedule kept in the database until it is delivered or the schedule runs out.
"""
