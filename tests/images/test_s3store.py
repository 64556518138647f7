"""The S3 store's own concerns, against a real S3-compatible server (moto) on
127.0.0.1: URL parsing, prefixes, pagination, and the fallback for servers that ignore
conditional writes. What it shares with the filesystem store is in
test_blob_store_contract.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from econsult.config import ConfigError, Settings
from econsult.images.blobstores import blob_store_for, parse_s3_url
from econsult.images.s3store import S3BlobStore, S3Location
from econsult.images.store import BlobExists, BlobNotFound, FilesystemBlobStore


async def test_keys_live_under_the_prefix_and_foreign_objects_are_not_listed(
    s3_endpoint: str, bucket: str, s3_client: Any,
) -> None:
    s3_client.put_object(Bucket=bucket, Key="images/nested/thing", Body=b"not ours")
    s3_client.put_object(Bucket=bucket, Key="elsewhere.original", Body=b"outside the prefix")
    store = S3BlobStore(S3Location(bucket=bucket, prefix="/images/", endpoint_url=s3_endpoint,
                                   region="us-east-1", addressing="path"))
    await store.put("a.original", b"A")
    assert s3_client.get_object(Bucket=bucket, Key="images/a.original")["Body"].read() == b"A"
    assert await store.list_keys() == ["a.original"]
    assert not await store.exists("elsewhere.original")


async def test_list_keys_follows_every_page(s3_endpoint: str, bucket: str) -> None:
    store = S3BlobStore(S3Location(bucket=bucket, endpoint_url=s3_endpoint, region="us-east-1",
                                   addressing="path"), page_size=4)
    keys = {f"{i:02d}.original" for i in range(11)}
    await asyncio.gather(*(store.put(k, b"x") for k in keys))
    assert sorted(await store.list_keys()) == sorted(keys)


async def test_the_probe_finds_conditional_writes_and_leaves_nothing(
    s3_endpoint: str, bucket: str, s3_client: Any,
) -> None:
    store = S3BlobStore(S3Location(bucket=bucket, endpoint_url=s3_endpoint, region="us-east-1",
                                   addressing="path"))
    assert store.conditional_writes is None
    await store.put("k", b"x")
    assert store.conditional_writes is True
    listed = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [item["Key"] for item in listed] == ["k"]


class _IgnoresConditions:
    """A real S3 client behind a server that, like some older S3-compatible ones, drops
    If-None-Match / If-Match and overwrites."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.puts = 0

    def put_object(self, **kwargs: Any) -> Any:
        kwargs.pop("IfNoneMatch", None)
        kwargs.pop("IfMatch", None)
        self.puts += 1
        return self._real.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


async def test_a_server_ignoring_if_none_match_falls_back_to_head_then_put(
    s3_client: Any, bucket: str, caplog: pytest.LogCaptureFixture,
) -> None:
    client = _IgnoresConditions(s3_client)
    store = S3BlobStore(S3Location(bucket=bucket), client=client)
    await store.put("k", b"one")
    assert store.conditional_writes is False
    assert "HEAD then PUT" in caplog.text
    with pytest.raises(BlobExists):
        await store.put("k", b"two")
    assert await store.get("k") == b"one"
    await store.replace("k", b"two")
    assert await store.get("k") == b"two"
    with pytest.raises(BlobNotFound):
        await store.replace("missing", b"x")
    assert await store.list_keys() == ["k"]


async def test_conditional_off_never_sends_the_header(s3_client: Any, bucket: str) -> None:
    client = _IgnoresConditions(s3_client)
    store = S3BlobStore(S3Location(bucket=bucket, conditional="off"), client=client)
    await store.put("k", b"one")
    assert client.puts == 1  # no probe writes
    with pytest.raises(BlobExists):
        await store.put("k", b"two")


async def test_blob_store_for_reads_the_url(tmp_path: Path, s3_endpoint: str, bucket: str,
                                            s3_client: Any) -> None:
    fs = blob_store_for(Settings(data_dir=tmp_path))
    assert isinstance(fs, FilesystemBlobStore) and fs.root == tmp_path / "blobs"
    fs2 = blob_store_for(Settings(data_dir=tmp_path, blob_url=f"file://{tmp_path}/elsewhere"))
    assert isinstance(fs2, FilesystemBlobStore) and fs2.root == tmp_path / "elsewhere"
    # http(s):// is shorthand for a path-style endpoint holding the bucket.
    s3 = blob_store_for(Settings(data_dir=tmp_path,
                                 blob_url=f"{s3_endpoint}/{bucket}/p?region=us-east-1"))
    assert isinstance(s3, S3BlobStore)
    await s3.put("k", b"v")
    assert s3_client.get_object(Bucket=bucket, Key="p/k")["Body"].read() == b"v"


def test_s3_urls_parse_into_a_location() -> None:
    loc = parse_s3_url("s3://my-bucket/a/b/?endpoint=http://127.0.0.1:9000&region=ca-central-1")
    assert loc == S3Location(bucket="my-bucket", prefix="a/b", endpoint_url="http://127.0.0.1:9000",
                             region="ca-central-1", addressing="path", conditional="auto")
    aws = parse_s3_url("s3://my-bucket?conditional=on")
    assert (aws.prefix, aws.endpoint_url, aws.addressing, aws.conditional) == ("", None, "auto",
                                                                              "on")


@pytest.mark.parametrize("url, words", [
    ("s3://AKIA:secret@bucket/x", "credentials"),
    ("s3://b/x", "bucket name"),
    ("s3://bucket/x?colour=red", "unknown option"),
    ("s3://bucket/x?addressing=sideways", "addressing must be"),
    ("s3://bucket/x?region=a&region=b", "exactly once"),
    ("s3://bucket/x?endpoint=ftp://host", "endpoint must be"),
    ("https://host/bucket?endpoint=http://other", "drop endpoint"),
    ("ftp://host/bucket", "must be file://"),
])
def test_bad_s3_urls_fail_fast_with_the_reason(url: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        parse_s3_url(url)
    assert "secret" not in str(caught.value)


def test_relative_file_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="absolute path"):
        blob_store_for(Settings(data_dir=tmp_path, blob_url="file://blobs"))
