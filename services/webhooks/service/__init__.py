"""Use cases of the webhooks service, one module per job.

- :mod:`.endpoints`: endpoint management, the delivery log and replays (the HTTP API's);
- :mod:`.fan_out`: each consumed event queued once per entitled endpoint (the consumer's);
- :mod:`.delivery`: claiming, recording attempts, retrying, disabling (the dispatcher's).

Entry points (``api``, ``events``, ``dispatcher``, ``app``) call them as ``service.<name>``.
Nothing here commits: the HTTP request, the consumed event batch or the dispatcher cycle that
opened the unit of work commits it.
"""

from __future__ import annotations

from services.webhooks.service.delivery import (
    EVENT_SOURCE,
    AttemptOutcome,
    Backlog,
    DueDelivery,
    Recorded,
    RetryPolicy,
    backlog,
    claim_due_deliveries,
    confirm_claims,
    give_back_claims,
    next_attempt_at,
    record_attempt,
    record_attempts,
)
from services.webhooks.service.endpoints import (
    DeliveryRecord,
    delete_endpoint,
    delivery_log,
    delivery_record,
    endpoint_for,
    endpoints_of,
    messages_since,
    register_endpoint,
    replay_delivery,
    replay_failed_since,
    require_manager,
    rotate_secret,
    rotate_signing_key,
    send_test_event,
    set_endpoint_enabled,
    update_endpoint,
)
from services.webhooks.service.fan_out import (
    clinician_of,
    enqueue_deliveries,
    grant_access,
    record_session_clinician,
    revoke_access,
    still_granted,
)

__all__ = [
    "EVENT_SOURCE",
    "AttemptOutcome",
    "Backlog",
    "DeliveryRecord",
    "DueDelivery",
    "Recorded",
    "RetryPolicy",
    "backlog",
    "claim_due_deliveries",
    "confirm_claims",
    "clinician_of",
    "delete_endpoint",
    "delivery_log",
    "delivery_record",
    "endpoint_for",
    "endpoints_of",
    "enqueue_deliveries",
    "give_back_claims",
    "grant_access",
    "messages_since",
    "next_attempt_at",
    "record_attempt",
    "record_attempts",
    "record_session_clinician",
    "register_endpoint",
    "replay_delivery",
    "replay_failed_since",
    "require_manager",
    "revoke_access",
    "rotate_secret",
    "rotate_signing_key",
    "send_test_event",
    "set_endpoint_enabled",
    "still_granted",
    "update_endpoint",
]
