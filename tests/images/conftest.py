"""An S3-compatible server (moto) on 127.0.0.1 for the blob store tests; they skip
when the s3 extra or moto[server] is not installed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("boto3", reason="the s3 extra is not installed")
    moto_server = pytest.importorskip("moto.moto_server.threaded_moto_server",
                                      reason="moto[server] is not installed")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for moto, and none of the machine's own AWS settings."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "econsult-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "econsult-test-secret")


@pytest.fixture
def s3_client(s3_endpoint: str, aws_env: None) -> Any:
    """A plain boto3 client (boto3 ships no types), to look behind the store's back."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A fresh bucket per test: the server is shared by the whole session."""
    name = f"econsult-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name
