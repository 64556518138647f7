"""The URLs of the FHIR face, added to the app beside econsult.http's route table."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from econsult.fhir import handlers, oauth

_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def routes() -> list[BaseRoute]:
    return [
        Route("/oauth/token", oauth.token, methods=["POST"]),
        Route("/fhir", handlers.transaction, methods=["POST"]),
        Route("/fhir/metadata", handlers.metadata, methods=["GET"]),
        Route("/fhir/.well-known/smart-configuration", handlers.smart_config,
              methods=["GET"]),
        Route("/fhir/Binary/{id}", handlers.binary, methods=["GET"]),
        Route("/fhir/{type}", handlers.search_type, methods=["GET"]),
        Route("/fhir/{type}/{id}", handlers.read, methods=["GET"]),
        # Anything else under /fhir still answers an OperationOutcome.
        Route("/fhir", handlers.unsupported, methods=_ANY),
        Route("/fhir/{rest:path}", handlers.unsupported, methods=_ANY),
    ]
