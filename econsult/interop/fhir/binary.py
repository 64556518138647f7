"""`GET /fhir/Binary/{id}`: a photo's bytes, a PDF attachment (as sanitised on upload),
or the consult letter (PDF), for a client whose token may read Binary and who acts for
the consult's GP. Audited as the same views are on the web: `image.view` for a photo,
`attachment.download` for a PDF, `consult.letter` for the letter."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2

from econsult.consults import attachments, image_access
from econsult.consults.deps import ConsultDeps
from econsult.interop.fhir.documents import ATTACHMENT_PREFIX, LETTER_PREFIX
from econsult.interop.fhir.search import FhirContext
from econsult.interop.letter import consult_letter
from econsult.security.policy import Principal, require_scope


@dataclass(frozen=True, slots=True)
class BinaryContent:
    id: str
    content_type: str
    content: bytes


async def binary(deps: ConsultDeps, templates: jinja2.Environment, user: Principal,
                 ctx: FhirContext, binary_id: str) -> BinaryContent:
    require_scope(user, "Binary", "read")
    if binary_id.startswith(LETTER_PREFIX):
        letter = await consult_letter(deps, templates, user, binary_id[len(LETTER_PREFIX):],
                                      client_addr=ctx.client_addr, answered_only=True)
        return BinaryContent(binary_id, "application/pdf", letter.content)
    if binary_id.startswith(ATTACHMENT_PREFIX):
        served = await attachments.download(deps, user, binary_id[len(ATTACHMENT_PREFIX):],
                                            client_addr=ctx.client_addr)
        return BinaryContent(binary_id, "application/pdf", served.content)
    image = await image_access.view(deps, user, binary_id, "original",
                                    client_addr=ctx.client_addr)
    return BinaryContent(binary_id, image.content_type, image.content)
