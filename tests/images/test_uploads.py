"""Multipart parsing for photo uploads: limits, malformed bodies, no plaintext on disk."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Scope

from econsult.http.uploads import BadUpload, UploadTooLarge, parse_multipart

MIB = 1024 * 1024
LIMITS = {"max_file_bytes": 6 * MIB, "max_files": 3, "max_body_bytes": 20 * MIB}


async def _upload(request: Request) -> Response:
    form = await parse_multipart(request, **LIMITS, max_fields=5, max_field_bytes=100)
    return JSONResponse(
        {
            "fields": form.fields,
            "files": [
                {
                    "field": f.field_name,
                    "filename": f.filename,
                    "type": f.content_type,
                    "size": len(f.data),
                    "sha256": hashlib.sha256(f.data).hexdigest(),
                }
                for f in form.files
            ],
        }
    )


async def _starlette_form(request: Request) -> Response:
    form = await request.form()  # the behaviour parse_multipart exists to avoid
    await form.close()
    return JSONResponse({"ok": True})


async def _error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UploadTooLarge | BadUpload)
    status = 413 if isinstance(exc, UploadTooLarge) else 400
    return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status)


APP = Starlette(
    routes=[
        Route("/upload", _upload, methods=["POST"]),
        Route("/starlette-form", _starlette_form, methods=["POST"]),
    ],
    exception_handlers={UploadTooLarge: _error, BadUpload: _error},
)


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://test")


@pytest.fixture
def file_creations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """Point every temp file at an empty directory and record any file created anywhere.

    Linux TemporaryFile uses O_TMPFILE, which leaves no directory entry to find
    afterwards, so creations are recorded at os.open as well as checked in the dir.
    """
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    monkeypatch.setenv("TMPDIR", str(spool))
    created: list[str] = []
    real_open: Callable[..., int] = os.open
    creating = os.O_CREAT | getattr(os, "O_TMPFILE", 0)

    def recording_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & creating:
            created.append(str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    return spool, created


async def test_five_mib_photo_arrives_intact_and_never_touches_disk(
    file_creations: tuple[Path, list[str]],
) -> None:
    spool, created = file_creations
    photo = os.urandom(5 * MIB)
    async with _client() as client:
        response = await client.post(
            "/upload",
            data={"specialty": "dermatology", "image_labels": ["left arm", "close-up"]},
            files=[
                ("images", ("arm.jpg", photo, "image/jpeg")),
                ("images", ("small.png", b"\x89PNG tiny", "image/png")),
            ],
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fields"] == {
        "specialty": ["dermatology"],
        "image_labels": ["left arm", "close-up"],
    }
    assert body["files"][0] == {
        "field": "images",
        "filename": "arm.jpg",
        "type": "image/jpeg",
        "size": len(photo),
        "sha256": hashlib.sha256(photo).hexdigest(),
    }
    assert body["files"][1]["size"] == len(b"\x89PNG tiny")
    assert created == []
    assert list(spool.iterdir()) == []


async def test_the_detector_catches_starlettes_spooling(
    file_creations: tuple[Path, list[str]],
) -> None:
    # Control: the same upload through request.form() does create a temp file, so the
    # test above would fail if parse_multipart spooled to disk.
    _, created = file_creations
    async with _client() as client:
        response = await client.post(
            "/starlette-form", files={"images": ("a.jpg", os.urandom(2 * MIB), "image/jpeg")}
        )
    assert response.status_code == 200
    assert created


async def test_file_over_the_per_file_cap_is_413() -> None:
    async with _client() as client:
        response = await client.post(
            "/upload", files={"images": ("big.jpg", b"x" * (6 * MIB + 1), "image/jpeg")}
        )
    assert response.status_code == 413
    assert "big.jpg" in response.json()["error"]["message"]


async def test_file_exactly_at_the_cap_is_accepted() -> None:
    async with _client() as client:
        response = await client.post(
            "/upload", files={"images": ("ok.jpg", b"x" * (6 * MIB), "image/jpeg")}
        )
    assert response.status_code == 200
    assert response.json()["files"][0]["size"] == 6 * MIB


async def test_too_many_files_is_413() -> None:
    files = [("images", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(4)]
    async with _client() as client:
        response = await client.post("/upload", files=files)
    assert response.status_code == 413
    assert "at most 3" in response.json()["error"]["message"]


async def test_too_many_fields_and_long_fields_are_refused() -> None:
    one_file = {"images": ("a.jpg", b"1", "image/jpeg")}  # forces multipart encoding
    async with _client() as client:
        five = await client.post("/upload", data={f"f{i}": "v" for i in range(5)}, files=one_file)
        many = await client.post("/upload", data={f"f{i}": "v" for i in range(6)}, files=one_file)
        long = await client.post("/upload", data={"question": "x" * 101}, files=one_file)
    assert five.status_code == 200
    assert many.status_code == 400 and "at most 5" in many.json()["error"]["message"]
    assert long.status_code == 413 and "question" in long.json()["error"]["message"]


async def _raw(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, Any]:
    """Drive the ASGI app directly so the body arrives in several chunks."""
    import json

    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "headers": headers,
        "query_string": b"",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("127.0.0.1", 1234),
        "root_path": "",
    }
    await APP(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


CT = (b"content-type", b"multipart/form-data; boundary=XyZ")


def _part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return b"--XyZ\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + data + b"\r\n"


async def test_declared_content_length_over_the_body_limit_is_refused_before_reading() -> None:
    header = (b"content-length", str(20 * MIB + 1).encode())
    status, body = await _raw([CT, header], [b"--XyZ\r\n"])
    assert status == 413
    assert "20 MB" in body["error"]["message"]


async def test_body_over_the_limit_without_content_length_is_counted_while_streaming() -> None:
    chunk = _part("images", b"x" * (5 * MIB), "a.jpg")
    status, _ = await _raw([CT], [chunk] * 5)  # 25 MiB of parts, no Content-Length
    assert status == 413


async def test_multi_chunk_body_parses() -> None:
    body = _part("specialty", b"dermatology") + _part("images", b"abc" * 1000, "a.jpg")
    body += b"--XyZ--\r\n"
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    status, parsed = await _raw([CT], pieces)
    assert status == 200
    assert parsed["fields"] == {"specialty": ["dermatology"]}
    assert parsed["files"][0]["size"] == 3000
    assert parsed["files"][0]["type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ([CT], b"this is not multipart at all"),
        ([CT], _part("images", b"abc", "a.jpg")),  # never closed: body ends mid-form
        ([CT], b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--\r\n"),  # no name
        ([CT], b"--XyZ\r\nno-colon-header\r\n\r\nx\r\n--XyZ--\r\n"),
        ([(b"content-type", b"multipart/form-data")], b"--XyZ--\r\n"),  # no boundary
        ([(b"content-type", b"application/json")], b"{}"),
        ([], b""),
        ([CT, (b"content-length", b"12abc")], b"--XyZ--\r\n"),
        ([CT], _part("name", b"\xff\xfe not utf-8") + b"--XyZ--\r\n"),
    ],
    ids=[
        "garbage",
        "unterminated",
        "no-name",
        "bad-header",
        "no-boundary",
        "json",
        "no-content-type",
        "bad-length",
        "bad-utf8",
    ],
)
async def test_malformed_bodies_are_400(headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    status, parsed = await _raw(headers, [body])
    assert status == 400
    assert parsed["error"]["code"] == "bad_upload"
