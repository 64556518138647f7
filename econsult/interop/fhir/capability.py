"""`GET /fhir/metadata` (the CapabilityStatement) and
`GET /fhir/.well-known/smart-configuration`, built from the same tables the search uses,
so what the server says it does is what it does."""

from __future__ import annotations

from datetime import datetime
from importlib import metadata
from typing import Any

from econsult.interop.fhir.codes import FHIR_VERSION, MEDIA_TYPE, PROFILES, instant
from econsult.interop.fhir.query import COMMON_PARAMS, INCLUDES, REVINCLUDES, SEARCH_PARAMS
from econsult.security.client_assertion import ALLOWED_ALGORITHMS

_CREATED_BY_TRANSACTION = ("ServiceRequest", "Patient", "DocumentReference")
SCOPES_SUPPORTED = ["system/*.rs", "system/ServiceRequest.c", "system/Patient.c",
                    "system/DocumentReference.c", "system/*.read"]


def capability_statement(base: str, token_url: str, now: datetime) -> dict[str, Any]:
    version = metadata.version("econsult")
    resources: list[dict[str, Any]] = []
    for rt, params in SEARCH_PARAMS.items():
        interactions = [{"code": "read"}, {"code": "search-type"}]
        entry: dict[str, Any] = {
            "type": rt,
            "interaction": interactions,
            "versioning": "no-version",
            "readHistory": False,
            "searchInclude": list(INCLUDES[rt]),
            "searchParam": [{"name": p.name, "type": p.type, "documentation": p.documentation}
                            for p in (*params, *COMMON_PARAMS)],
        }
        if rt in PROFILES:
            entry["supportedProfile"] = list(PROFILES[rt])
        if rt in REVINCLUDES:
            entry["searchRevInclude"] = list(REVINCLUDES[rt])
        if rt in _CREATED_BY_TRANSACTION:
            entry["documentation"] = "Created only inside a transaction Bundle (POST /fhir)."
        resources.append(entry)
    resources.append({"type": "Binary", "interaction": [{"code": "read"}],
                      "documentation": "Photo bytes, PDF attachments and the consult "
                                       "letter (PDF); raw unless Accept: "
                                       "application/fhir+json."})
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(now),
        "publisher": "econsult",
        "kind": "instance",
        "software": {"name": "econsult", "version": version},
        "implementation": {"description": "econsult FHIR API (eConsult, SMART Backend "
                                          "Services)", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": [MEDIA_TYPE, "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Searches and reads are limited to the GPs the client acts for.",
            "security": {
                "cors": False,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"}]}],
                # SMART 1 placement; SMART 2 clients read .well-known/smart-configuration.
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "token", "valueUri": token_url}]}],
                "description": "SMART Backend Services: client_credentials with a "
                               "private_key_jwt assertion (RS384 or ES384).",
            },
            "resource": resources,
            "interaction": [{"code": "transaction",
                             "documentation": "Creates one consult from a Patient, a "
                                              "ServiceRequest and its photos."}],
        }],
    }


def smart_configuration(token_url: str) -> dict[str, Any]:
    return {
        "token_endpoint": token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": sorted(ALLOWED_ALGORITHMS),
        "scopes_supported": SCOPES_SUPPORTED,
        "capabilities": ["client-confidential-asymmetric", "permission-v2", "permission-v1"],
        # Required by SMART even without an authorize endpoint; plain is never offered.
        "code_challenge_methods_supported": ["S256"],
    }
