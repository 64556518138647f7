"""Earlier photos of the same body site of the same patient, for the viewer's
side-by-side: how has this lesion changed?

The patient is found through the health number's blind index (`consults/search.py`),
among the consults the viewer may see (`visible_consults`, then `may(view)` for each),
newest first and bounded (`MAX_CANDIDATES` consults submitted up to the photo's own
consult); the decrypted number and the body site (the consult's dermatology
`body_site`) are then compared after folding case, spaces and hyphens. Photos posted
earlier in the same consult's thread (a follow-up photo in a reply) count too.

The answer names photos the viewer may already open one by one; the lookup itself is
audited, and each photo is audited again when it is fetched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from econsult.consults import search
from econsult.consults.deps import ConsultDeps
from econsult.consults.ids import is_uuid
from econsult.errors import NotFound
from econsult.models import Consult, ConsultImage
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, may, visible_consults

MAX_CANDIDATES = 200
MAX_PHOTOS = 24
_FOLD = re.compile(r"[\s\-_.,]+")


@dataclass(slots=True)
class EarlierPhoto:
    id: str
    consult_id: str
    label: str
    width: int
    height: int
    taken_at: str  # when it was uploaded (ISO 8601, UTC)
    same_consult: bool
    body_site: str


def fold(value: str) -> str:
    return _FOLD.sub("", value).casefold()


async def earlier_photos(deps: ConsultDeps, user: Principal, image_id: str, *,
                         client_addr: str = "") -> list[EarlierPhoto]:
    """Photos taken before `image_id` of the same patient's same body site, newest first;
    NotFound when the photo is unknown or not the viewer's to see."""
    if not is_uuid(image_id):
        raise NotFound("Image not found.")
    open_ = deps.fields.open
    async with deps.db.read() as db:
        image = await db.get(ConsultImage, image_id)
        consult = await db.get(Consult, image.consult_id) if image is not None else None
        if image is None or consult is None or not may(user, Action.view, consult):
            raise NotFound("Image not found.")
        site = _body_site(deps, consult)
        patient = fold(open_("consults", "patient_health_number", consult.id,
                             consult.patient_health_number))
        indexed = search.same_health_number(deps.keyring, patient)
        candidates = [] if indexed is None else list((await db.execute(
            select(Consult).where(visible_consults(user), indexed,
                                  col(Consult.submitted_at) <= consult.submitted_at,
                                  col(Consult.id) != consult.id)
            .order_by(col(Consult.submitted_at).desc()).limit(MAX_CANDIDATES))).scalars())
        same_patient = [c for c in candidates if may(user, Action.view, c)
                        and fold(open_("consults", "patient_health_number", c.id,
                                       c.patient_health_number)) == patient
                        and site and fold(_body_site(deps, c)) == fold(site)]
        sites = {c.id: _body_site(deps, c) for c in same_patient}
        sites[consult.id] = site
        ids = [consult.id, *sites]
        rows = list((await db.execute(
            select(ConsultImage).where(col(ConsultImage.consult_id).in_(ids),
                                       col(ConsultImage.id) != image.id,
                                       col(ConsultImage.created_at) <= image.created_at)
            .order_by(col(ConsultImage.created_at).desc(), col(ConsultImage.id))
            .limit(MAX_PHOTOS))).scalars())
    found = [EarlierPhoto(r.id, r.consult_id, r.label, r.width, r.height,
                          r.created_at.isoformat(), r.consult_id == consult.id,
                          sites.get(r.consult_id, ""))
             for r in rows
             if r.consult_id != consult.id or r.created_at < image.created_at]
    await deps.audit.record(actor=Actor(user.id, user.email, client_addr),
                            action="image.compare", at=deps.clock.now(), object_type="image",
                            object_id=image.id, detail=f"earlier={len(found)}")
    return found


def _body_site(deps: ConsultDeps, consult: Consult) -> str:
    if consult.clinical_details is None:
        return ""
    details = json.loads(deps.fields.open("consults", "clinical_details", consult.id,
                                          consult.clinical_details))
    value = details.get("body_site", "") if isinstance(details, dict) else ""
    return value if isinstance(value, str) else ""
