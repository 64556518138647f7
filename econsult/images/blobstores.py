"""Choose the blob store from ``ECONSULT_BLOB_URL``.

* unset: the filesystem under the data directory (``$ECONSULT_DATA_DIR/blobs``);
* ``file:///srv/econsult/blobs``: the filesystem at that absolute path;
* ``s3://BUCKET[/PREFIX][?endpoint=URL&region=NAME&addressing=path|virtual|auto
  &conditional=auto|on|off]``: an S3-compatible object store (``endpoint`` is only
  needed for servers other than AWS, e.g. ``http://127.0.0.1:9000`` for MinIO);
* ``http(s)://HOST[:PORT]/BUCKET[/PREFIX][?region=...]``: shorthand for an
  S3-compatible server addressed path-style at that endpoint.

Credentials are never read from the URL (it ends up in logs and process listings):
boto3's standard chain supplies them, e.g. ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from econsult.config import ConfigError, Settings
from econsult.images.s3store import S3BlobStore, S3Location
from econsult.images.store import BlobStore, FilesystemBlobStore

_VAR = "ECONSULT_BLOB_URL"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_OPTIONS = {"endpoint", "region", "addressing", "conditional"}
_CHOICES = {"addressing": {"path", "virtual", "auto"}, "conditional": {"auto", "on", "off"}}


def blob_store_for(settings: Settings) -> BlobStore:
    url = settings.blob_url
    if not url:
        return FilesystemBlobStore(settings.blob_dir)
    if url.startswith("file:"):
        return FilesystemBlobStore(_file_path(url))
    return S3BlobStore(parse_s3_url(url))


def parse_s3_url(url: str) -> S3Location:
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{_VAR} must not carry credentials; set AWS_ACCESS_KEY_ID and "
                          f"AWS_SECRET_ACCESS_KEY instead")
    options = _options(parts.query)
    if parts.scheme == "s3":
        bucket, prefix = parts.netloc, parts.path
        endpoint = options.get("endpoint")
        addressing = options.get("addressing", "path" if endpoint else "auto")
    elif parts.scheme in ("http", "https"):
        if "endpoint" in options:
            raise ConfigError(f"{_VAR}: an http(s):// URL is the endpoint itself; "
                              f"drop endpoint= or use s3://BUCKET?endpoint=...")
        bucket, _, prefix = parts.path.lstrip("/").partition("/")
        endpoint = f"{parts.scheme}://{parts.netloc}"
        addressing = options.get("addressing", "path")
    else:
        raise ConfigError(f"{_VAR} must be file://, s3:// or http(s):// (got {parts.scheme}://)")
    if not _BUCKET.match(bucket):
        raise ConfigError(f"{_VAR} needs a bucket name (3-63 lowercase letters, digits, dots, "
                          f"hyphens); got {bucket!r}")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"{_VAR}: endpoint must be an http(s) URL (got {endpoint!r})")
    return S3Location(bucket=bucket, prefix=prefix.strip("/"), endpoint_url=endpoint,
                      region=options.get("region"), addressing=addressing,
                      conditional=options.get("conditional", "auto"))


def _options(query: str) -> dict[str, str]:
    raw = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    unknown = set(raw) - _OPTIONS
    if unknown:
        raise ConfigError(f"{_VAR}: unknown option(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(_OPTIONS))}")
    options: dict[str, str] = {}
    for name, values in raw.items():
        if len(values) != 1 or not values[0]:
            raise ConfigError(f"{_VAR}: give {name}= exactly once, with a value")
        options[name] = values[0]
        if name in _CHOICES and values[0] not in _CHOICES[name]:
            raise ConfigError(f"{_VAR}: {name} must be one of "
                              f"{', '.join(sorted(_CHOICES[name]))} (got {values[0]!r})")
    return options


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ConfigError(f"{_VAR} file URLs need an absolute path: file:///srv/blobs "
                          f"(got {url!r})")
    return Path(parts.path)
