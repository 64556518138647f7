"""`GET /images/{id}/dicom`: a consult photo as a DICOM object, for a PACS or the chart.

The photo is the one its consult's viewers may see (policy decides, 404 for anyone
else); `export_dicom` (dicom.py) builds the object from plain data, in the worker pool,
off the event loop. Every export is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from econsult.consults.deps import ConsultDeps
from econsult.consults.ids import is_uuid
from econsult.errors import NotFound
from econsult.interop.dicom import DicomPhoto, export_dicom
from econsult.interop.image_bytes import decrypted
from econsult.interop.record import ConsultRecord, RecordImage, load_records
from econsult.models import Consult, ConsultImage
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, may

_SERIES = ("overview", "close_up", "dermoscopy", "other")


@dataclass(frozen=True, slots=True)
class DicomFile:
    content: bytes
    filename: str


def health_number_issuer(holidays_region: str) -> str:
    """IssuerOfPatientID: the province whose card the number is (ECONSULT_HOLIDAYS)."""
    province = holidays_region.split("-", 1)[-1].upper() if "-" in holidays_region else "BC"
    return {"BC": "BC PHN", "ON": "ON HCN"}.get(province, f"{province} health number")


async def dicom_of(deps: ConsultDeps, user: Principal, image_id: str, *,
                   client_addr: str = "") -> DicomFile:
    if not is_uuid(image_id):
        raise NotFound("Image not found.")
    async with deps.db.read() as db:
        row = await db.get(ConsultImage, image_id)
        consult = await db.get(Consult, row.consult_id) if row is not None else None
        if row is None or consult is None or not may(user, Action.view, consult):
            raise NotFound("Image not found.")
        rec = (await load_records(db, deps.fields, [consult]))[0]
    image = next(i for i in rec.all_images() if i.id == image_id)
    photo = photo_of(rec, image, await decrypted(deps, image_id), deps)
    content = await deps.workers.run(export_dicom, photo)
    await deps.audit.record(actor=Actor(user.id, user.email, client_addr), action="image.dicom",
                            at=deps.clock.now(), object_type="image", object_id=image_id)
    return DicomFile(content, f"consult-{rec.id[:8]}-{image.label}-{image_id[:8]}.dcm")


def photo_of(rec: ConsultRecord, image: RecordImage, content: bytes,
             deps: ConsultDeps) -> DicomPhoto:
    same_label = [i.id for i in rec.all_images() if i.label == image.label]
    gp = rec.person(rec.consult.gp_id)
    settings = deps.settings
    return DicomPhoto(
        image=content, content_type=image.content_type, width=image.width,
        height=image.height, image_id=image.id, consult_id=rec.id, label=image.label,
        body_site=rec.details.get("body_site", ""), patient_name=rec.patient_name,
        birth_date=date.fromisoformat(rec.patient_dob), sex=None,
        health_number=rec.health_number,
        health_number_issuer=health_number_issuer(settings.holidays_region),
        submitted_at=rec.consult.submitted_at, uploaded_at=image.created_at,
        referring_physician=gp.name if gp else "", institution_name="",
        study_description=f"eConsult {rec.specialty_name}"[:64],
        series_number=_SERIES.index(image.label) + 1 if image.label in _SERIES else 5,
        instance_number=same_label.index(image.id) + 1, timezone=settings.timezone,
    )
