"""`POST /fhir`: a transaction Bundle from an EMR becomes a consult, submitted through the
same service as the web form (`consults.submit.submit_with_photos`), so it is checked,
routed, timed and audited exactly like one, for the GP the Bundle names as requester
(who must be one the client acts for).

Idempotent on Bundle.identifier (or an Idempotency-Key header): the pair (client,
identifier) becomes the submission's idempotency key for that GP, so a retry returns
the first consult and creates nothing (its entries answer 200 instead of 201).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from econsult.consults.deps import ConsultDeps
from econsult.consults.submit import submit_with_photos
from econsult.errors import Conflict, InvalidInput
from econsult.interop.fhir.bundles import Outcome, transaction_response
from econsult.interop.fhir.search import FhirContext
from econsult.interop.fhir.transaction import plan
from econsult.models import IdempotentRequest
from econsult.security.policy import Principal, acting_for, require_scope


async def create(deps: ConsultDeps, user: Principal, ctx: FhirContext, bundle: object, *,
                 idempotency_key: str | None = None) -> dict[str, Any]:
    """The transaction-response Bundle; InvalidInput (with the element's path in
    `field`), NotFound for a requester the client does not act for."""
    for resource_type in ("ServiceRequest", "Patient"):
        require_scope(user, resource_type, "create")
    planned = await asyncio.to_thread(plan, bundle,
                                      health_number_system=ctx.health_number_system,
                                      max_image_bytes=deps.settings.max_image_bytes)
    if planned.uploads:
        require_scope(user, "DocumentReference", "create")
    gp_id = int(planned.requester_id) if planned.requester_id.isdigit() else -1
    gp = acting_for(user, gp_id, what=f"PractitionerRole/{planned.requester_id} is not a GP "
                                      "this client acts for.")
    identifier = planned.identifier or (("header", idempotency_key) if idempotency_key else None)
    if identifier is None:
        raise InvalidInput("Give the Bundle an identifier (system and value) so a retry "
                           "cannot create the consult twice.", field="Bundle.identifier",
                           code="identifier_required")
    key = _key(user.client_id or "", *identifier)
    await _check_key_is_this_gps(deps, key, gp.id)
    data = replace(planned.submission, idempotency_key=key)
    try:
        summary, created = await submit_with_photos(deps, gp, data, planned.uploads,
                                                    client_addr=ctx.client_addr)
    except InvalidInput as exc:
        # The web form's field names, said as the FHIR elements they came from.
        exc.field = _ELEMENTS.get(exc.field or "", exc.field)
        raise
    at = deps.clock.now() if created else datetime.fromisoformat(summary.submitted_at)
    photos = iter(summary.images)
    outcomes = []
    for resource_type in planned.entry_types:
        resource_id = next(photos).id if resource_type == "DocumentReference" else summary.id
        outcomes.append(Outcome(resource_type, resource_id, created, at))
    return transaction_response(outcomes, deps.clock.now())


_ELEMENTS = {
    "question": "ServiceRequest.reasonCode[0].text",
    "urgency": "ServiceRequest.priority",
    "specialty": "ServiceRequest.performerType",
    "body_site": "ServiceRequest.bodySite[0].text",
    "patient_name": "Patient.name",
    "patient_dob": "Patient.birthDate",
    "patient_health_number": "Patient.identifier",
    "images": "DocumentReference.content[0].attachment.data",
    "image_labels": "DocumentReference.category",
}


def _key(client_id: str, system: str, value: str) -> str:
    digest = hashlib.sha256(f"{client_id}\x00{system}\x00{value}".encode()).hexdigest()
    return f"fhir-{digest[:48]}"


async def _check_key_is_this_gps(deps: ConsultDeps, key: str, gp_id: int) -> None:
    async with deps.db.read() as db:
        other = (await db.execute(select(col(IdempotentRequest.user_id)).where(
            col(IdempotentRequest.key) == key, col(IdempotentRequest.user_id) != gp_id))).first()
    if other is not None:
        raise Conflict("This Bundle.identifier was already used for a consult of another "
                       "GP; give each consult its own identifier.", code="identifier_reused")
