"""Object-level authorization, generated from the webhooks app's route table: every route whose
path names an endpoint (or one of its deliveries) is called with partner app 1's ids by another
partner app holding the same scope, and must answer 403 or 404, never data. A route added to the
app is walked without anyone listing it; the few that need a body get the owner's valid one, so
a 422 (validation, not authorization) fails the test."""

from __future__ import annotations

import re
from typing import Any

from tests.unit.records.clinical_world import route_table
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import StartService
from tests.unit.webhooks.test_tenancy import consume, deliveries_to, grant

PATH_ID = re.compile(r"\{(\w+)\}")
# Valid bodies of the routes that require one (the owner's own call, checked below).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): {"description": "renamed"},
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/replay-failed"): {
        "since": "2020-01-01T00:00:00Z"
    },
}


async def test_no_route_serves_another_partners_endpoint(start_service: StartService) -> None:
    webhooks = await start_service(background=False)
    owner = webhooks.auth(role="client", scopes="webhooks:manage", subject="partner-app-1")
    stranger = webhooks.auth(role="client", scopes="webhooks:manage", subject="partner-app-2")
    endpoint = await webhooks.register("http://127.0.0.1:9/partner", ["*"], owner)
    await webhooks.register("http://127.0.0.1:9/other", ["*"], stranger)
    event = factories.appointment_scheduled()
    await grant(webhooks, "partner-app-1", event.clinician_id)
    await consume(webhooks, event)
    (delivery,) = await deliveries_to(webhooks, endpoint["id"])
    ids = {"endpoint_id": endpoint["id"], "delivery_id": str(delivery.id)}

    # DELETE last: were it let through, it would hide what the other routes do.
    routes = sorted(
        (r for r in route_table(webhooks.app) if PATH_ID.search(r[1])),
        key=lambda r: (r[0] == "DELETE", r),
    )
    assert len(routes) >= 10, routes  # the walk found the API
    unknown = {name for _, path in routes for name in PATH_ID.findall(path)} - ids.keys()
    assert not unknown, f"give the walk an id of another partner's {unknown}"
    leaks = []
    for method, template in routes:
        path = template.format(**ids)
        body = BODIES.get((method, template))
        response = await webhooks.http.request(method, path, json=body, headers=stranger)
        # A refusal is an error body and nothing else (it may echo the id the caller sent).
        refused = response.status_code in (403, 404) and set(response.json()) <= {
            "error",
            "detail",
        }
        if not refused:
            leaks.append(f"{method} {template} -> {response.status_code}: {response.text[:80]}")
    assert not leaks, "\n".join(leaks)
    # The ids were real: the owner reads both.
    owned = await webhooks.http.get(
        f"/v1/webhook-endpoints/{ids['endpoint_id']}/deliveries/{ids['delivery_id']}",
        headers=owner,
    )
    assert owned.status_code == 200, owned.text
    replay = BODIES[("POST", "/v1/webhook-endpoints/{endpoint_id}/replay-failed")]
    replayed = await webhooks.http.post(
        f"/v1/webhook-endpoints/{ids['endpoint_id']}/replay-failed", json=replay, headers=owner
    )
    assert replayed.status_code == 202, replayed.text
