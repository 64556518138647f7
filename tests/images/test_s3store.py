"""Both blob stores held to one contract, the S3 one against a real S3-compatible
server (moto) on 127.0.0.1; then the S3 store's own concerns: URL parsing, prefixes,
pagination, and the fallback for servers that ignore conditional writes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from econsult.config import ConfigError, Settings
from econsult.images.blobstores import blob_store_for, parse_s3_url
from econsult.images.s3store import S3BlobStore, S3Location
from econsult.images.store import BlobExists, BlobNotFound, BlobStore, FilesystemBlobStore

boto3 = pytest.importorskip("boto3", reason="the s3 extra is not installed")
moto_server = pytest.importorskip("moto.moto_server.threaded_moto_server",
                                  reason="moto[server] is not installed")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "econsult-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "econsult-test-secret")


@pytest.fixture
def bucket(s3_endpoint: str, aws_env: None) -> str:
    name = f"econsult-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return name


def _s3_settings(tmp_path: Path, url: str) -> Settings:
    return Settings(data_dir=tmp_path, blob_url=url)


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "filesystem":
        return blob_store_for(Settings(data_dir=tmp_path))
    endpoint = request.getfixturevalue("s3_endpoint")
    name = request.getfixturevalue("bucket")
    return blob_store_for(_s3_settings(tmp_path, f"s3://{name}/images?endpoint={endpoint}"
                                                 f"&region=us-east-1"))


# --- the contract, for both stores ------------------------------------------------------

async def test_put_get_exists_delete(store: BlobStore) -> None:
    key = f"{uuid.uuid4()}.original"
    assert not await store.exists(key)
    await store.put(key, b"sealed bytes")
    assert await store.exists(key)
    assert await store.get(key) == b"sealed bytes"
    assert await store.list_keys() == [key]
    await store.delete(key)
    assert not await store.exists(key)
    await store.delete(key)  # idempotent: GC and rollbacks may both delete
    with pytest.raises(BlobNotFound):
        await store.get(key)


async def test_put_refuses_to_overwrite_and_replace_needs_an_existing_blob(
    store: BlobStore,
) -> None:
    await store.put("k", b"one")
    with pytest.raises(BlobExists):
        await store.put("k", b"two")
    assert await store.get("k") == b"one"
    await store.replace("k", b"two")
    assert await store.get("k") == b"two"
    with pytest.raises(BlobNotFound):
        await store.replace("missing", b"x")
    assert not await store.exists("missing")
    assert await store.list_keys() == ["k"]


async def test_simultaneous_puts_of_one_key_have_one_winner(store: BlobStore) -> None:
    payloads = [bytes([i]) * 64 for i in range(6)]
    results = await asyncio.gather(*(store.put("race", p) for p in payloads),
                                   return_exceptions=True)
    winners = [p for p, r in zip(payloads, results, strict=True) if r is None]
    assert len(winners) == 1
    assert all(isinstance(r, BlobExists) for r in results if r is not None)
    assert await store.get("race") == winners[0]


async def test_binary_content_round_trips_exactly(store: BlobStore) -> None:
    data = bytes(range(256)) * 4096 + b"\x00"  # 1 MiB and a byte, every byte value
    await store.put("big.original", data)
    assert await store.get("big.original") == data


async def test_list_keys_and_age(store: BlobStore) -> None:
    keys = {f"img-{i}.thumbnail" for i in range(12)}
    await asyncio.gather(*(store.put(k, k.encode()) for k in keys))
    assert sorted(await store.list_keys()) == sorted(keys)
    assert 0 <= await store.age_seconds("img-3.thumbnail") < 60
    with pytest.raises(BlobNotFound):
        await store.age_seconds("missing")


async def test_empty_store_lists_nothing(store: BlobStore) -> None:
    assert await store.list_keys() == []


@pytest.mark.parametrize("key", ["../etc/passwd", "a/b", ".hidden", "", "a..b", "x" * 200])
async def test_bad_keys_are_refused(store: BlobStore, key: str) -> None:
    for call in (store.put(key, b"x"), store.get(key), store.exists(key), store.delete(key)):
        with pytest.raises(ValueError):
            await call
    assert await store.list_keys() == []


# --- S3 only ----------------------------------------------------------------------------

def _client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


async def test_keys_live_under_the_prefix_and_foreign_objects_are_not_listed(
    s3_endpoint: str, bucket: str,
) -> None:
    raw = _client(s3_endpoint)
    raw.put_object(Bucket=bucket, Key="images/nested/thing", Body=b"not ours")
    raw.put_object(Bucket=bucket, Key="elsewhere.original", Body=b"outside the prefix")
    store = S3BlobStore(S3Location(bucket=bucket, prefix="/images/", endpoint_url=s3_endpoint,
                                   region="us-east-1", addressing="path"))
    await store.put("a.original", b"A")
    assert raw.get_object(Bucket=bucket, Key="images/a.original")["Body"].read() == b"A"
    assert await store.list_keys() == ["a.original"]
    assert not await store.exists("elsewhere.original")


async def test_list_keys_follows_every_page(s3_endpoint: str, bucket: str) -> None:
    store = S3BlobStore(S3Location(bucket=bucket, endpoint_url=s3_endpoint, region="us-east-1",
                                   addressing="path"), page_size=4)
    keys = {f"{i:02d}.original" for i in range(11)}
    await asyncio.gather(*(store.put(k, b"x") for k in keys))
    assert sorted(await store.list_keys()) == sorted(keys)


async def test_the_probe_finds_conditional_writes_and_leaves_nothing(
    s3_endpoint: str, bucket: str,
) -> None:
    store = S3BlobStore(S3Location(bucket=bucket, endpoint_url=s3_endpoint, region="us-east-1",
                                   addressing="path"))
    assert store.conditional_writes is None
    await store.put("k", b"x")
    assert store.conditional_writes is True
    listed = _client(s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]
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
    s3_endpoint: str, bucket: str, caplog: pytest.LogCaptureFixture,
) -> None:
    client = _IgnoresConditions(_client(s3_endpoint))
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


async def test_conditional_off_never_sends_the_header(s3_endpoint: str, bucket: str) -> None:
    client = _IgnoresConditions(_client(s3_endpoint))
    store = S3BlobStore(S3Location(bucket=bucket, conditional="off"), client=client)
    await store.put("k", b"one")
    assert client.puts == 1  # no probe writes
    with pytest.raises(BlobExists):
        await store.put("k", b"two")


async def test_blob_store_for_reads_the_url(tmp_path: Path, s3_endpoint: str,
                                            bucket: str) -> None:
    fs = blob_store_for(Settings(data_dir=tmp_path))
    assert isinstance(fs, FilesystemBlobStore) and fs.root == tmp_path / "blobs"
    fs2 = blob_store_for(Settings(data_dir=tmp_path, blob_url=f"file://{tmp_path}/elsewhere"))
    assert isinstance(fs2, FilesystemBlobStore) and fs2.root == tmp_path / "elsewhere"
    # http(s):// is shorthand for a path-style endpoint holding the bucket.
    s3 = blob_store_for(Settings(data_dir=tmp_path,
                                 blob_url=f"{s3_endpoint}/{bucket}/p?region=us-east-1"))
    assert isinstance(s3, S3BlobStore)
    await s3.put("k", b"v")
    assert _client(s3_endpoint).get_object(Bucket=bucket, Key="p/k")["Body"].read() == b"v"


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
