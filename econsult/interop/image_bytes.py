"""The decrypted bytes of a stored photo, for exports whose caller has already been
allowed to see the consult (the letter, DICOM, FHIR Binary) and audits the view itself.

A blob that fails to open is the server's data gone bad: ImageCorrupt (500), as for
`GET /images/{id}`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Literal

from econsult.consults.deps import ConsultDeps
from econsult.consults.image_access import ImageCorrupt
from econsult.consults.image_intake import blob_key
from econsult.images.envelope import ImageIntegrityError, open_image
from econsult.images.store import BlobNotFound

log = logging.getLogger(__name__)


async def decrypted(deps: ConsultDeps, image_id: str,
                    kind: Literal["original", "thumbnail"] = "original") -> bytes:
    try:
        blob = await deps.blobs.get(blob_key(image_id, kind))
        return open_image(deps.keyring, uuid.UUID(image_id), kind, blob)
    except (BlobNotFound, ImageIntegrityError) as exc:
        log.error("image %s (%s) cannot be exported: %s", image_id, kind, exc)
        raise ImageCorrupt("A photo of this consult failed its integrity check and cannot "
                           "be exported. The problem has been logged; please tell the "
                           "program's administrator.") from None
