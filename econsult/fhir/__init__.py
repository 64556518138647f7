"""The FHIR R4 face (/fhir) and its OAuth token endpoint (/oauth/token): thin handlers
beside econsult.http, over the mapping and services in econsult.interop.fhir."""
