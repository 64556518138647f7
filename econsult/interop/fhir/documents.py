"""DocumentReference and Binary: the photos, and the consult letter.

A photo is `DocumentReference/{image id}` and its bytes `Binary/{image id}`; the letter,
once the consult has an answer, `DocumentReference/letter-{consult id}` and
`Binary/letter-{consult id}` (a PDF made when it is fetched). Content is always by
`attachment.url`, never inline (the Ontario guide's advice), and size is that of the
served bytes. A PDF the GP or specialist attached is
`DocumentReference/attachment-{attachment id}`, category `attachment-kind#document`, its
bytes (as sanitised when uploaded) `Binary/attachment-{attachment id}`.
"""

from __future__ import annotations

import base64
from typing import Any

from econsult.interop.fhir.codes import (
    CS_ATTACHMENT,
    CS_PHOTO_LABEL,
    LOINC,
    PHOTO_LABELS,
    coding,
    concept,
    instant,
    meta,
    ref,
    urn_identifier,
)
from econsult.interop.record import ConsultRecord, RecordAttachment, RecordImage

LETTER_PREFIX = "letter-"
ATTACHMENT_PREFIX = "attachment-"
PHOTO_TYPE = concept(coding(LOINC, "72170-4", "Photographic image"), text="Clinical photograph")
LETTER_TYPE = concept(coding(LOINC, "11488-4", "Consult note"), text="Consult letter")


PDF_TYPE = concept(text="Attached document (PDF)")


def attachment_id(attachment_db_id: str) -> str:
    return f"{ATTACHMENT_PREFIX}{attachment_db_id}"


def letter_id(consult_id: str) -> str:
    return f"{LETTER_PREFIX}{consult_id}"


def letter_available(rec: ConsultRecord) -> bool:
    """The letter is offered to the chart once the specialist has answered."""
    return rec.consult.answered_at is not None and rec.consult.state != "cancelled"


def photo(rec: ConsultRecord, image: RecordImage, base: str) -> dict[str, Any]:
    label = PHOTO_LABELS.get(image.label, image.label)
    return {
        "resourceType": "DocumentReference",
        "id": image.id,
        "meta": meta("DocumentReference", image.created_at),
        "identifier": [urn_identifier(image.id)],
        "status": "current",
        "type": PHOTO_TYPE,
        "category": [concept(coding(CS_ATTACHMENT, "photo", "Photo"),
                             coding(CS_PHOTO_LABEL, image.label, label), text=label)],
        "subject": ref("Patient", rec.id),
        "date": instant(image.created_at),
        "author": [ref("PractitionerRole", image.uploaded_by)],
        "description": f"{label} photo",
        "content": [{"attachment": {
            "contentType": image.content_type,
            "url": f"{base}/Binary/{image.id}",
            "size": image.size_bytes,
            "title": f"{label} photo",
            "creation": instant(image.created_at),
        }}],
        "context": {"related": [ref("ServiceRequest", rec.id)]},
    }


def pdf(rec: ConsultRecord, a: RecordAttachment, base: str) -> dict[str, Any]:
    rid = attachment_id(a.id)
    return {
        "resourceType": "DocumentReference",
        "id": rid,
        "meta": meta("DocumentReference", a.created_at),
        "identifier": [urn_identifier(a.id)],
        "status": "current",
        "type": PDF_TYPE,
        "category": [concept(coding(CS_ATTACHMENT, "document", "Document (PDF)"))],
        "subject": ref("Patient", rec.id),
        "date": instant(a.created_at),
        "author": [ref("PractitionerRole", a.uploaded_by)],
        "description": a.filename,
        "content": [{"attachment": {
            "contentType": "application/pdf",
            "url": f"{base}/Binary/{rid}",
            "size": a.size_bytes,
            "title": a.filename,
            "creation": instant(a.created_at),
        }}],
        "context": {"related": [ref("ServiceRequest", rec.id)]},
    }


def letter(rec: ConsultRecord, base: str) -> dict[str, Any]:
    c = rec.consult
    out: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": letter_id(c.id),
        "meta": meta("DocumentReference", c.updated_at),
        "status": "current",
        # Final once the GP has closed the consult; until then a follow-up may add to it.
        "docStatus": "final" if c.state == "closed" else "preliminary",
        "type": LETTER_TYPE,
        "category": [concept(coding(CS_ATTACHMENT, "letter", "Consult letter"))],
        "subject": ref("Patient", c.id),
        "date": instant(c.updated_at),
        "description": f"eConsult letter: {rec.specialty_name}",
        # No size or hash: the PDF is made when fetched, from the consult as it is then.
        "content": [{"attachment": {"contentType": "application/pdf",
                                    "url": f"{base}/Binary/{letter_id(c.id)}",
                                    "title": "Consult letter"}}],
        "context": {"related": [ref("ServiceRequest", c.id)]},
    }
    if c.assigned_to is not None:
        out["author"] = [ref("PractitionerRole", c.assigned_to)]
    return out


def documents(rec: ConsultRecord, base: str) -> list[dict[str, Any]]:
    out = [photo(rec, image, base) for image in rec.all_images()]
    out.extend(pdf(rec, a, base) for a in rec.attachments)
    if letter_available(rec):
        out.append(letter(rec, base))
    return out


def binary(binary_id: str, content_type: str, data: bytes) -> dict[str, Any]:
    return {
        "resourceType": "Binary",
        "id": binary_id,
        "contentType": content_type,
        "securityContext": ref("DocumentReference", binary_id),
        "data": base64.b64encode(data).decode("ascii"),
    }
