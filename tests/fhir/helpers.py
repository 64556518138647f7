"""API-client test set-up: keys, signed assertions, registration, tokens, Bundles, and
validation of what the server emits against the FHIR R4 models (fhir.resources R4B)."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from econsult.accounts import api_clients
from econsult.clock import Clock
from econsult.db import Database
from econsult.interop.fhir.codes import CS_PHOTO_LABEL, CS_URGENCY, EXT_URGENCY, SNOMED
from econsult.models import User
from econsult.security.audit import Actor
from econsult.security.client_assertion import ASSERTION_TYPE

TOKEN_URL = "http://testserver/oauth/token"
BC_PHN = "https://fhir.infoway-inforoute.ca/NamingSystem/ca-bc-patient-healthcare-id"
FHIR_JSON = "application/fhir+json"


@cache
def ec_key(name: str = "emr") -> ECKey:
    """A P-384 signing key (fast to make); `name` gives distinct keys per role."""
    return ECKey.generate_key("P-384", parameters={"kid": f"{name}-key"}, private=True)


@cache
def rsa_key(name: str = "emr-rsa") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": f"{name}-key"}, private=True)


def public_jwks(*keys: ECKey | RSAKey) -> str:
    return json.dumps({"keys": [k.as_dict(private=False) for k in keys]})


@dataclass
class Registered:
    id: str
    key: ECKey | RSAKey


async def register(db: Database, clock: Clock, gps: list[User],
                   scopes: tuple[str, ...] = ("system/*.rs", "system/ServiceRequest.c",
                                              "system/Patient.c", "system/DocumentReference.c"),
                   key: ECKey | RSAKey | None = None, name: str = "Clinic EMR") -> Registered:
    key = key or ec_key()
    client = await api_clients.register(db, name=name, jwks=public_jwks(key),
                                        gp_emails=[g.email for g in gps], scopes=list(scopes),
                                        actor=Actor(None, "test"), clock=clock, by=None)
    return Registered(client.id, key)


def assertion(client: Registered, now: datetime, *, lifetime: int = 240, jti: str | None = None,
              aud: str = TOKEN_URL, key: ECKey | RSAKey | None = None,
              issuer: str | None = None) -> str:
    key = key or client.key
    alg = "ES384" if isinstance(key, ECKey) else "RS384"
    stamp = int(now.timestamp())
    claims = {"iss": issuer or client.id, "sub": issuer or client.id, "aud": aud,
              "exp": stamp + lifetime, "iat": stamp, "jti": jti or str(uuid.uuid4())}
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[alg])


def token_form(signed: str, scope: str | None = None) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed}
    if scope is not None:
        form["scope"] = scope
    return form


async def token(anon: httpx.AsyncClient, client: Registered, now: datetime,
                scope: str | None = None) -> str:
    response = await anon.post("/oauth/token", data=token_form(assertion(client, now), scope))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}", "Accept": FHIR_JSON}


def transaction_bundle(gp: User, *, photos: list[tuple[bytes, str]] | None = None,
                       identifier: str | None = "b-0001", tier: str | None = "semi_urgent",
                       question: str = "Changing pigmented lesion, 6 mm, left forearm. "
                                       "Melanoma?",
                       health_number: str = "9876543210",
                       specialty_code: str = "394582007") -> dict[str, Any]:
    patient_url, request_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest", "status": "active", "intent": "proposal",
        "priority": "urgent" if tier == "semi_urgent" else "routine",
        "performerType": {"coding": [{"system": SNOMED, "code": specialty_code}]},
        "subject": {"reference": patient_url},
        "requester": {"reference": f"PractitionerRole/{gp.id}"},
        "reasonCode": [{"text": question}],
        "bodySite": [{"text": "left forearm"}],
    }
    if tier:
        request["extension"] = [{"url": EXT_URGENCY,
                                 "valueCoding": {"system": CS_URGENCY, "code": tier}}]
    entries: list[dict[str, Any]] = [
        {"fullUrl": patient_url,
         "resource": {"resourceType": "Patient",
                      "identifier": [{"system": BC_PHN, "value": health_number}],
                      "name": [{"family": "Doe", "given": ["Jane"]}], "gender": "female",
                      "birthDate": "1980-02-03"},
         "request": {"method": "POST", "url": "Patient",
                     "ifNoneExist": f"identifier={BC_PHN}|{health_number}"}},
        {"fullUrl": request_url, "resource": request,
         "request": {"method": "POST", "url": "ServiceRequest"}},
    ]
    for data, label in photos or []:
        entries.append({
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": {"resourceType": "DocumentReference", "status": "current",
                         "subject": {"reference": patient_url},
                         "category": [{"coding": [{"system": CS_PHOTO_LABEL, "code": label}]}],
                         "content": [{"attachment": {
                             "contentType": "image/jpeg", "title": f"{label}.jpg",
                             "data": base64.b64encode(data).decode()}}]},
            "request": {"method": "POST", "url": "DocumentReference"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    if identifier:
        bundle["identifier"] = {"system": "https://emr.example/bundles", "value": identifier}
    return bundle


def validate(resource: dict[str, Any]) -> None:
    """Structure checked by the R4 (R4B-shaped) models; the codes fhir.resources does
    not check are checked here."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    _check_codes(resource)
    for entry in resource.get("entry", []):
        if "resource" in entry:
            _check_codes(entry["resource"])


_CODES = {
    "Task": {"status": {"draft", "requested", "received", "accepted", "rejected", "ready",
                        "cancelled", "in-progress", "on-hold", "failed", "completed",
                        "entered-in-error"}, "intent": {"order"},
             "priority": {"routine", "urgent", "asap", "stat"}},
    "ServiceRequest": {"status": {"active", "completed", "revoked", "draft", "on-hold",
                                  "entered-in-error", "unknown"},
                       "intent": {"proposal", "plan", "order"},
                       "priority": {"routine", "urgent", "asap", "stat"}},
    "Communication": {"status": {"in-progress", "completed"}},
    "DocumentReference": {"status": {"current"}, "docStatus": {"preliminary", "final"}},
    "QuestionnaireResponse": {"status": {"completed"}},
    "Bundle": {"type": {"searchset", "transaction-response"}},
}


def _check_codes(resource: dict[str, Any]) -> None:
    for name, allowed in _CODES.get(resource["resourceType"], {}).items():
        if name in resource:
            assert resource[name] in allowed, (resource["resourceType"], name, resource[name])


def photo(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """A textured, photo-like JPEG (a flat colour would draw blur warnings)."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (205, 160, 140))
    draw = ImageDraw.Draw(image)
    for i in range(0, size[0], 16):
        shade = (i * 7 + seed * 40) % 120
        draw.line([(i, 0), (size[0] - i, size[1])], fill=(120 + shade, 80, 70), width=3)
    draw.ellipse([size[0] // 3, size[1] // 3, size[0] // 2, size[1] // 2], fill=(90, 50, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


async def create(fhir: httpx.AsyncClient, bundle: dict[str, Any]) -> dict[str, Any]:
    response = await fhir.post("/fhir", json=bundle, headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    validate(body)
    return body


def location_id(body: dict[str, Any], index: int = 1) -> str:
    return str(body["entry"][index]["response"]["location"].split("/")[1])


async def get(fhir: httpx.AsyncClient, path: str, status: int = 200) -> dict[str, Any]:
    response = await fhir.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = response.json()
    validate(body)
    return body


def resources(bundle: dict[str, Any], mode: str = "match") -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == mode]
