"""The records HTTP API: each sub-domain's routes (``<package>/api.py``) on one router.

Each request runs in one unit of work (``SessionDep``) that commits before the response
is sent, so a 201 means the change, its audit entries and its outbox events are stored.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.records import audit
from services.records.audit.api import router as audit_router
from services.records.check_ins.api import router as check_ins_router
from services.records.consent.api import router as consent_router
from services.records.fhir.api import fhir_router as fhir_rest_router
from services.records.fhir.api import router as fhir_router
from services.records.goals.api import router as goals_router
from services.records.location.api import router as location_router
from services.records.measures.api import router as measures_router
from services.records.notes.api import router as notes_router
from services.records.partnership.api import router as partnership_router
from services.records.safety.api import router as safety_router
from services.records.scheduling.api import router as scheduling_router
from services.records.sessions.api import router as sessions_router

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


# The sub-domains' routes join this router as routes (not as nested routers), so everything
# that reads ``router.routes`` (the gateway's reachability check, the docs) sees each of them.
for sub_router in (
    sessions_router,
    location_router,
    consent_router,
    scheduling_router,
    partnership_router,
    goals_router,
    check_ins_router,
    notes_router,
    fhir_router,
    fhir_rest_router,
    audit_router,
    measures_router,
    safety_router,
):
    router.routes.extend(sub_router.routes)
