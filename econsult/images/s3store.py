"""Encrypted image blobs in an S3-compatible object store, for several machines.

Configured by ``ECONSULT_BLOB_URL`` (parsed in ``econsult.images.blobstores``)::

    s3://BUCKET[/PREFIX][?endpoint=URL&region=NAME&addressing=path|virtual|auto
                         &conditional=auto|on|off]

Credentials never go in the URL: boto3's standard chain supplies them
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, or an instance role).
The blobs are already sealed with AES-256-GCM by the keyring before they get here, so
the object store only ever holds ciphertext.

Why boto3 in a thread rather than aiobotocore: boto3 is the client AWS maintains and
every S3-compatible server tests against; aiobotocore pins exact botocore versions, so
it drifts behind and constrains the whole environment. A request or two per image is
nothing for ``asyncio.to_thread``, and botocore clients are thread-safe.

``put`` must never overwrite (keys are written once). It sends ``If-None-Match: *``,
which AWS S3 (since 2024), MinIO, Ceph RGW and others honour atomically. Some servers
ignore the header and overwrite; with ``conditional=auto`` the first ``put`` probes for
that on a throwaway key and, if the header is ignored, falls back to HEAD-then-PUT.
That fallback has a race: two writers that both HEAD before either PUTs will both
"create" the key, the later one winning. Keys are random image ids, so in practice only
a retried request races itself, with the same bytes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from econsult.config import ConfigError
from econsult.images.store import BlobExists, BlobNotFound, validate_key

logger = logging.getLogger(__name__)

_MISSING = {"404", "NoSuchKey", "NotFound"}
_PRECONDITION = {"412", "PreconditionFailed"}
# AWS answers 409 when two conditional writes on one key overlap; retrying settles it.
_CONFLICT = {"409", "ConditionalRequestConflict"}
_UNSUPPORTED = {"501", "NotImplemented"}
_ATTEMPTS = 4


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    addressing: str = "auto"  # path | virtual | auto
    conditional: str = "auto"  # on | off | auto (probe once)


class S3BlobStore:
    def __init__(self, location: S3Location, *, client: Any = None,
                 page_size: int = 1000) -> None:
        self.location = location
        self._page_size = page_size
        self._prefix = location.prefix.strip("/")
        if self._prefix:
            self._prefix += "/"
        self._client = client if client is not None else _make_client(location)
        self._conditional: bool | None = {"on": True, "off": False}.get(location.conditional)
        self._probe_lock = threading.Lock()

    @property
    def conditional_writes(self) -> bool | None:
        """Whether ``put`` relies on If-None-Match (None: not probed yet)."""
        return self._conditional

    def object_name(self, key: str) -> str:
        return self._prefix + validate_key(key)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, self.object_name(key), bytes(data))

    async def replace(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._replace, self.object_name(key), bytes(data))

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, self.object_name(key))

    async def delete(self, key: str) -> None:
        name = self.object_name(key)
        # S3 answers 204 for a missing key too, which is what the interface wants.
        await asyncio.to_thread(self._client.delete_object, Bucket=self.location.bucket,
                                Key=name)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._head, self.object_name(key)) is not None

    async def list_keys(self) -> list[str]:
        return await asyncio.to_thread(self._list)

    async def age_seconds(self, key: str) -> float:
        head = await asyncio.to_thread(self._head, self.object_name(key))
        if head is None:
            raise BlobNotFound(key)
        # LastModified is the server's clock; a skewed host could see a negative age.
        modified: datetime = head["LastModified"]
        return max(0.0, (datetime.now(UTC) - modified).total_seconds())

    # --- blocking parts, run in a thread -----------------------------------------

    def _put(self, name: str, data: bytes) -> None:
        if self._uses_conditional():
            for attempt in range(_ATTEMPTS):
                try:
                    self._put_object(name, data, IfNoneMatch="*")
                    return
                except Exception as exc:
                    code = _code(exc)
                    if code in _PRECONDITION:
                        raise BlobExists(_key_of(name)) from None
                    if code not in _CONFLICT or attempt == _ATTEMPTS - 1:
                        raise
        if self._head(name) is not None:
            raise BlobExists(_key_of(name))
        self._put_object(name, data)

    def _replace(self, name: str, data: bytes) -> None:
        for attempt in range(_ATTEMPTS):
            head = self._head(name)
            if head is None:
                raise BlobNotFound(_key_of(name))
            if not self._uses_conditional():
                # Without conditional writes a delete between HEAD and PUT is
                # undone by the PUT; only rotation replaces, and GC never deletes a
                # blob that a row references, so the two do not meet.
                self._put_object(name, data)
                return
            try:
                # Compare-and-swap on the ETag: a concurrent delete cannot be undone.
                self._put_object(name, data, IfMatch=head["ETag"])
                return
            except Exception as exc:
                code = _code(exc)
                if code in _MISSING:
                    raise BlobNotFound(_key_of(name)) from None
                if code not in _PRECONDITION | _CONFLICT or attempt == _ATTEMPTS - 1:
                    raise

    def _get(self, name: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.location.bucket, Key=name)
        except Exception as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFound(_key_of(name)) from None
            raise
        body = response["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def _head(self, name: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self._client.head_object(Bucket=self.location.bucket,
                                                            Key=name)
        except Exception as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        return head

    def _list(self) -> list[str]:
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self._prefix,
                                       PaginationConfig={"PageSize": self._page_size}):
            for item in page.get("Contents", ()):
                key = item["Key"][len(self._prefix):]
                try:
                    keys.append(validate_key(key))
                except ValueError:
                    continue  # not ours: probes, nested "folders", other tools' files
        return keys

    def _put_object(self, name: str, data: bytes, **conditions: str) -> None:
        self._client.put_object(Bucket=self.location.bucket, Key=name, Body=data,
                                ContentType="application/octet-stream", **conditions)

    def _uses_conditional(self) -> bool:
        if self._conditional is None:
            with self._probe_lock:
                if self._conditional is None:
                    self._conditional = self._probe()
        return self._conditional

    def _probe(self) -> bool:
        """Write a throwaway object twice with If-None-Match: * and see if the second
        write is refused. The probe name starts with a dot, which no real key may."""
        name = f"{self._prefix}.econsult-probe-{secrets.token_hex(8)}"
        try:
            self._put_object(name, b"1", IfNoneMatch="*")
            try:
                self._put_object(name, b"2", IfNoneMatch="*")
            except Exception as exc:
                if _code(exc) in _PRECONDITION | _CONFLICT:
                    return True
                if _code(exc) in _UNSUPPORTED:
                    return self._fallback("refuses")
                raise
            return self._fallback("ignores")
        except Exception as exc:
            if _code(exc) in _UNSUPPORTED:
                return self._fallback("refuses")
            raise
        finally:
            self._client.delete_object(Bucket=self.location.bucket, Key=name)

    def _fallback(self, verb: str) -> bool:
        logger.warning("object store %s If-None-Match on PUT: blob writes use HEAD then "
                       "PUT, which two simultaneous writers of one key could race", verb)
        return False


def _make_client(location: S3Location) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError("ECONSULT_BLOB_URL names an S3 store but boto3 is not installed: "
                          "pip install 'econsult[s3]'") from None

    config = Config(
        region_name=location.region,
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=32,
        s3={"addressing_style": location.addressing},
        # Only checksum when the API demands it: several S3-compatible servers reject
        # the CRC32 trailers newer botocore adds by default. GCM already authenticates.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", endpoint_url=location.endpoint_url,
                                          config=config)


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    error = response.get("Error") or {}
    code = str(error.get("Code", ""))
    if code:
        return code
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status or "")


def _key_of(name: str) -> str:
    return name.rsplit("/", 1)[-1]
