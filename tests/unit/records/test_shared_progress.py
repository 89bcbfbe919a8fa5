"""Goal progress the clinician shares during a call arrives from signaling as an event and
becomes the clinician's goal update of that session, once."""

from __future__ import annotations

import uuid

from shared.events.catalog import GoalProgressShared, GoalUpdated
from tests.unit.records.conftest import T0, Records


async def test_shared_progress_becomes_one_goal_update_of_the_session(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    goal = await records.set_goal(clinician, client)
    shared = GoalProgressShared(
        goal_update_id=uuid.uuid4(),
        goal_id=uuid.UUID(goal["id"]),
        session_id=session_id,
        clinician_id=clinician,
        client_id=client,
        progress=7,
        at=T0,
    )

    await records.deliver(shared)
    await records.deliver(shared.model_copy())  # the same fact again: no second update

    record = await records.http.get(f"/v1/sessions/{session_id}", headers=records.auth(client))
    [update] = record.json()["goal_updates"]
    assert update["id"] == str(shared.goal_update_id)
    assert (update["progress"], update["author_role"]) == (7, "clinician")
    [event] = await records.outbox(GoalUpdated)
    assert event.goal_update_id == shared.goal_update_id


async def test_progress_on_a_foreign_or_unagreed_goal_is_ignored(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    other_client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    proposed = await records.propose_goal(clinician, client)
    foreign = await records.set_goal(clinician, other_client)

    for goal in (proposed, foreign):
        await records.deliver(
            GoalProgressShared(
                goal_update_id=uuid.uuid4(),
                goal_id=uuid.UUID(goal["id"]),
                session_id=session_id,
                clinician_id=clinician,
                client_id=client,
                progress=3,
                at=T0,
            )
        )

    record = await records.http.get(f"/v1/sessions/{session_id}", headers=records.auth(clinician))
    assert record.json()["goal_updates"] == []
    assert await records.outbox(GoalUpdated) == []
