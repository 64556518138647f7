"""Image ingest: validate, normalise, strip, thumbnail, assess; encrypt and store blobs.

Domain code: never imports Starlette or econsult.http.
"""

from .decode import DEFAULT_MAX_PIXELS
from .envelope import ImageIntegrityError, blob_kek_id, open_image, rewrap_blob_header, seal_image
from .formats import ImageRejected
from .pipeline import CheckResult, ProcessedImage, check_image, process_image
from .quality import QualityWarning
from .store import BlobExists, BlobNotFound, BlobStore, FilesystemBlobStore
from .workers import ImageWorkers

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "BlobExists",
    "BlobNotFound",
    "BlobStore",
    "CheckResult",
    "FilesystemBlobStore",
    "ImageIntegrityError",
    "ImageRejected",
    "ImageWorkers",
    "ProcessedImage",
    "QualityWarning",
    "blob_kek_id",
    "check_image",
    "open_image",
    "process_image",
    "rewrap_blob_header",
    "seal_image",
]
