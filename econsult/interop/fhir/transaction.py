"""Reading a transaction Bundle from an EMR into a consult submission (pure).

The Bundle is checked twice: its structure against the R4 models (fhir.resources, R4B
shapes; attachment data set aside so a 25 MB photo is not run through a regex), then
its meaning here: one Patient, one ServiceRequest, photos as DocumentReferences with
their bytes inline (we never fetch a URL a client names). What the web form would
refuse, `consults.submit` refuses the same way after this. Errors carry the FHIRPath
of the element at fault, for the OperationOutcome.
"""

from __future__ import annotations

import base64
import binascii
import copy
from dataclasses import dataclass
from typing import Any

from econsult.consults.image_intake import MAX_IMAGES, Upload
from econsult.consults.submission import SubmitInput
from econsult.errors import InvalidInput, TooLarge
from econsult.interop.fhir.codes import (
    CS_PHOTO_LABEL,
    CS_URGENCY,
    EXT_URGENCY,
    PHOTO_LABELS,
    specialty_of_concept,
)

_REFUSED = {
    "Task": "The server creates the Task that tracks the consult; send only Patient, "
            "ServiceRequest and DocumentReference entries.",
    "Communication": "Put the question in ServiceRequest.reasonCode.text; messages are "
                     "written in the consult's thread once it exists.",
    "QuestionnaireResponse": "Workup checklists are not accepted through the API yet.",
    "Practitioner": "Practitioners are registered by an administrator, not created here.",
    "PractitionerRole": "Practitioners are registered by an administrator, not created here.",
}
_INTENTS = ("proposal", "plan", "order")
_URGENCIES = ("urgent", "semi_urgent", "routine")


class BundleRefused(InvalidInput):
    def __init__(self, message: str, expression: str, *, code: str = "invalid_bundle") -> None:
        super().__init__(message, code=code, field=expression)
        self.expression = expression


@dataclass(frozen=True, slots=True)
class TransactionPlan:
    identifier: tuple[str, str] | None  # Bundle.identifier (system, value)
    requester_id: str  # the PractitionerRole (or Practitioner) id of the GP
    submission: SubmitInput
    uploads: list[Upload]
    entry_types: list[str]  # per request entry: Patient, ServiceRequest, DocumentReference


def plan(bundle: object, *, health_number_system: str, max_image_bytes: int) -> TransactionPlan:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleRefused("Send a Bundle resource.", "Bundle")
    _check_structure(bundle)
    if bundle.get("type") != "transaction":
        raise BundleRefused("Bundle.type must be transaction.", "Bundle.type")
    entries = bundle.get("entry") or []
    found: dict[str, list[tuple[int, dict[str, Any], str | None]]] = {}
    for n, entry in enumerate(entries):
        where = f"Bundle.entry[{n}]"
        resource = entry.get("resource")
        rt = resource.get("resourceType") if isinstance(resource, dict) else None
        if rt is None:
            raise BundleRefused("Each entry needs a resource.", f"{where}.resource")
        request = entry.get("request") or {}
        if request.get("method") != "POST" or str(request.get("url", "")).split("?")[0] != rt:
            raise BundleRefused(f"Entries are created with request POST {rt}.",
                                f"{where}.request")
        if rt in _REFUSED:
            raise BundleRefused(_REFUSED[rt], f"{where}.resource", code="unsupported_entry")
        if rt not in ("Patient", "ServiceRequest", "DocumentReference"):
            raise BundleRefused(f"{rt} entries are not accepted.", f"{where}.resource",
                                code="unsupported_entry")
        found.setdefault(rt, []).append((n, resource, entry.get("fullUrl")))
    for rt in ("Patient", "ServiceRequest"):
        if len(found.get(rt, [])) != 1:
            raise BundleRefused(f"A consult takes exactly one {rt} entry.", "Bundle.entry")
    pn, patient, patient_url = found["Patient"][0]
    sn, request, _ = found["ServiceRequest"][0]
    photos = found.get("DocumentReference", [])
    if len(photos) > MAX_IMAGES:
        raise BundleRefused(f"Attach at most {MAX_IMAGES} photos.", "Bundle.entry")
    _same_patient(request.get("subject"), patient_url, f"Bundle.entry[{sn}].resource.subject")
    name, dob, number = _patient(patient, health_number_system, f"Bundle.entry[{pn}].resource")
    submission = _submission(request, f"Bundle.entry[{sn}].resource", name, dob, number)
    uploads = [_upload(resource, patient_url, max_image_bytes, f"Bundle.entry[{n}].resource")
               for n, resource, _ in photos]
    identifier = bundle.get("identifier")
    key = ((str(identifier.get("system", "")), str(identifier["value"]))
           if isinstance(identifier, dict) and identifier.get("value") else None)
    return TransactionPlan(key, _requester(request, f"Bundle.entry[{sn}].resource"),
                           submission, uploads,
                           [str(e["resource"]["resourceType"]) for e in entries])


def _check_structure(bundle: dict[str, Any]) -> None:
    from fhir.resources.R4B.bundle import Bundle  # 1 s to import: only when first needed
    from pydantic import ValidationError

    light = copy.deepcopy({k: v for k, v in bundle.items() if k != "entry"})
    light["entry"] = [_without_data(e) for e in bundle.get("entry") or []]
    try:
        Bundle.model_validate(light)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = "Bundle" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                                  for p in error["loc"])
        raise BundleRefused(f"{path}: {error['msg']}.", path) from None


def _without_data(entry: object) -> object:
    if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
        return entry
    out = dict(entry)
    resource = out["resource"] = copy.deepcopy(entry["resource"])
    for content in resource.get("content") or []:
        attachment = content.get("attachment") if isinstance(content, dict) else None
        if isinstance(attachment, dict) and isinstance(attachment.get("data"), str):
            attachment["data"] = "AA=="
    return out


def _same_patient(subject: object, patient_url: str | None, where: str) -> None:
    reference = subject.get("reference") if isinstance(subject, dict) else None
    if patient_url is None or reference != patient_url:
        raise BundleRefused("The subject must reference the Patient entry by its fullUrl.",
                            where)


def _patient(patient: dict[str, Any], system: str, where: str) -> tuple[str, str, str]:
    numbers = [i for i in patient.get("identifier") or [] if i.get("system") == system]
    if len(numbers) != 1 or not numbers[0].get("value"):
        raise BundleRefused(f"The patient needs one health number with system {system} "
                            "(this program's province).", f"{where}.identifier",
                            code="health_number_required")
    names = patient.get("name") or []
    name = names[0] if names else {}
    text = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")])
    if not text.strip():
        raise BundleRefused("The patient's name is required.", f"{where}.name")
    if not patient.get("birthDate"):
        raise BundleRefused("The patient's birth date is required.", f"{where}.birthDate")
    return " ".join(text.split()), str(patient["birthDate"]), str(numbers[0]["value"])


def _submission(request: dict[str, Any], where: str, name: str, dob: str,
                number: str) -> SubmitInput:
    if request.get("intent") not in _INTENTS:
        raise BundleRefused("ServiceRequest.intent must be proposal (or plan, order).",
                            f"{where}.intent")
    if request.get("status") != "active":
        raise BundleRefused("A new ServiceRequest is active.", f"{where}.status")
    if request.get("performer"):
        raise BundleRefused("Naming the specialist is not supported: the consult goes to "
                            "whoever is on call.", f"{where}.performer")
    specialty = specialty_of_concept(request.get("performerType"))
    if specialty is None:
        raise BundleRefused("ServiceRequest.performerType must carry a SNOMED CT specialty "
                            "or econsult's specialty code.", f"{where}.performerType")
    reasons = request.get("reasonCode") or []
    question = reasons[0].get("text", "") if reasons else ""
    sites = request.get("bodySite") or []
    body_site = sites[0].get("text", "") if sites else ""
    return SubmitInput(specialty=specialty, urgency=_urgency(request, where), question=question,
                       patient_name=name, patient_dob=dob, patient_health_number=number,
                       details={"body_site": body_site} if body_site.strip() else {})


def _urgency(request: dict[str, Any], where: str) -> str:
    for ext in request.get("extension") or []:
        if ext.get("url") == EXT_URGENCY:
            code = (ext.get("valueCoding") or {})
            if code.get("system") != CS_URGENCY or code.get("code") not in _URGENCIES:
                raise BundleRefused("The urgency-tier extension takes urgent, semi_urgent "
                                    "or routine.", f"{where}.extension")
            return str(code["code"])
    # Without our tier: FHIR urgent and above are urgent (never downgrade a request).
    return "routine" if request.get("priority") in (None, "routine") else "urgent"


def _requester(request: dict[str, Any], where: str) -> str:
    reference = (request.get("requester") or {}).get("reference", "")
    rt, _, rid = str(reference).rpartition("/")
    if rt.rsplit("/", 1)[-1] not in ("PractitionerRole", "Practitioner") or not rid:
        raise BundleRefused("ServiceRequest.requester must be PractitionerRole/{id} of a GP "
                            "this client acts for.", f"{where}.requester")
    return rid


def _upload(resource: dict[str, Any], patient_url: str | None, max_bytes: int,
            where: str) -> Upload:
    if resource.get("subject") is not None:
        _same_patient(resource["subject"], patient_url, f"{where}.subject")
    contents = resource.get("content") or []
    attachment = contents[0].get("attachment", {}) if len(contents) == 1 else {}
    if not str(attachment.get("contentType", "")).startswith("image/"):
        raise BundleRefused("A DocumentReference carries one photo (contentType image/...).",
                            f"{where}.content")
    data = attachment.get("data")
    if not isinstance(data, str) or not data:
        raise BundleRefused("Send the photo inline in attachment.data (base64); URLs are "
                            "not fetched.", f"{where}.content[0].attachment.data")
    if len(data) > (max_bytes * 4) // 3 + 4:
        raise TooLarge(f"A photo is larger than {max_bytes // (1024 * 1024)} MB.")
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BundleRefused("attachment.data is not base64.",
                            f"{where}.content[0].attachment.data") from None
    label = "other"
    for category in resource.get("category") or []:
        for c in category.get("coding") or []:
            if c.get("system") == CS_PHOTO_LABEL and c.get("code") in PHOTO_LABELS:
                label = str(c["code"])
    return Upload(data=content, filename=str(attachment.get("title", ""))[:200], label=label)
