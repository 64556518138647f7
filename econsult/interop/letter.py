"""The consult letter: the whole consult as a PDF for the patient's chart
(`GET /api/v1/consults/{id}/letter.pdf`, and FHIR `Binary/letter-{id}`).

Who may have it is who may view the consult (the GP, the specialist on it; staff get
the same 404 as an unknown id). The letter is made from the consult as it is now, from
the HTML template `consult_letter.html`, and rendered off the event loop in the worker
pool. Every letter is audited like a view of the consult.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import jinja2

from econsult.consults.deps import ConsultDeps
from econsult.errors import NotFound
from econsult.interop.image_bytes import decrypted
from econsult.interop.letter_pdf import render_pdf
from econsult.interop.record import ConsultRecord, Person, RecordImage, load_one
from econsult.interop.referral_summary import latest_parts, load_content, referral_summary
from econsult.security.audit import Actor
from econsult.security.policy import Principal

TEMPLATE = "consult_letter.html"
_KIND_LABELS = {"clarification_request": "Clarification requested", "answer": "Answer",
                "addendum": "Addendum to the answer",
                "reroute": "Rerouted", "message": "Message"}
_OUTCOMES = {"referral_avoided": "Referral avoided", "referral_still_needed":
             "Referral still needed", "referral_now_planned": "Referral now planned",
             "other": "Other"}
_DETAILS = {"body_site": "Body site", "duration": "Duration", "lesion_description": "Lesion",
            "symptoms": "Symptoms", "history": "History", "fitzpatrick": "Fitzpatrick type"}


@dataclass(frozen=True, slots=True)
class Letter:
    content: bytes
    filename: str


@dataclass(frozen=True, slots=True)
class LetterPhoto:
    label: str
    src: str  # a data: URL of the 512 px thumbnail


async def consult_letter(deps: ConsultDeps, templates: jinja2.Environment, user: Principal,
                         consult_id: str, *, client_addr: str = "",
                         answered_only: bool = False) -> Letter:
    """`answered_only`: NotFound until the consult has an answer (the FHIR letter is a
    DocumentReference only from then on)."""
    rec = await load_one(deps, user, consult_id)
    if answered_only and (rec.consult.answered_at is None or rec.consult.state == "cancelled"):
        raise NotFound("Consult letter not found.")
    photos = {i.id: await _photo(deps, i) for i in rec.all_images()}
    context = letter_context(rec, photos, deps)
    clinical = await load_content(deps, rec)
    context.update(clinical=clinical, parts=latest_parts(rec, clinical),
                   referral=referral_summary(rec, clinical))
    html = templates.get_template(TEMPLATE).render(context)
    content = await deps.workers.run(render_pdf, html)
    await deps.audit.record(actor=Actor(user.id, user.email, client_addr),
                            action="consult.letter", at=deps.clock.now(),
                            object_type="consult", object_id=rec.id)
    return Letter(content, f"consult-{rec.id[:8]}-letter.pdf")


def letter_context(rec: ConsultRecord, photos: dict[str, LetterPhoto],
                   deps: ConsultDeps) -> dict[str, Any]:
    c = rec.consult
    answers = [m for m in rec.messages if m.kind == "answer"]
    # The one who answered signs; until then, whoever holds the consult.
    specialist = rec.person(answers[-1].author_id if answers else c.assigned_to)
    return {
        "rec": rec, "c": c,
        "gp": rec.person(c.gp_id),
        "specialist": specialist,
        "details": [(_DETAILS.get(k, k), v) for k, v in rec.details.items() if v],
        "photos": [photos[i.id] for i in rec.images if i.id in photos],
        "messages": [{"author": _name(rec.person(m.author_id)), "at": m.created_at,
                      "kind": _KIND_LABELS.get(m.kind, "Message"), "answer": m.kind == "answer",
                      "body": m.body,
                      "photos": [photos[i.id] for i in m.images if i.id in photos]}
                     for m in rec.messages],
        "answer": answers[-1] if answers else None,
        "outcome": _OUTCOMES.get(c.outcome or "", c.outcome),
        "events": [{"type": e.type.replace("_", " "), "at": e.at,
                    "actor": _name(rec.person(e.actor_id)) or "system"} for e in rec.events],
        "generated_at": deps.clock.now(),
        "urgency": c.urgency.replace("_", "-"),
    }


def _name(person: Person | None) -> str:
    return person.name if person else ""


async def _photo(deps: ConsultDeps, image: RecordImage) -> LetterPhoto:
    data = await decrypted(deps, image.id, "thumbnail")
    kind = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    src = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    return LetterPhoto(image.label.replace("_", "-"), src)
