"""The server keeps an idle keep-alive connection open longer than clients do, so a
client never reuses a connection the server is closing at that moment.

Under load on a contended CPU this race dropped requests (`RemoteProtocolError: Server
disconnected without sending a response`, or a reset: a ReadError) in 2 of 5 busy
Monday runs: uvicorn's default keep-alive timeout (5 s) is httpx's pool expiry (5 s),
and a client reusing its connection just under 5 s after the response (its clock
starts when it has read the response, the server's when it sent it; the gap widens
when the CPU is busy) sent its request as the server closed. Reproduced with two CPU
hogs, 300 reuses after idle gaps of 4.900-4.999 s: 4, 5 and 9 RemoteProtocolErrors in
three runs with the 5 s timeout, none with KEEP_ALIVE_SECONDS."""

from __future__ import annotations

import asyncio
import socket
import time

from econsult.cli.serve import KEEP_ALIVE_SECONDS
from tests.reliability.conftest import MakeServer

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _exchange(sock: socket.socket) -> bytes:
    sock.sendall(REQUEST)
    data = b""
    while not data.endswith(b"ok"):
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    return data


async def test_an_idle_connection_outlives_any_client_pool(make_server: MakeServer) -> None:
    assert KEEP_ALIVE_SECONDS > 60  # beyond httpx (5 s), browsers and proxies (<= 60 s)
    server = await make_server(seed=True)
    await server.start()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        assert _exchange(sock).startswith(b"HTTP/1.1 200")
        idle_from = time.monotonic()
        await asyncio.sleep(7)  # past uvicorn's default (5 s) and httpx's pool expiry
        sock.setblocking(False)
        try:
            closed = sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            closed = False  # nothing to read: still open
        sock.setblocking(True)
        assert not closed, f"the server closed an idle connection after " \
                           f"{time.monotonic() - idle_from:.1f} s"
        assert _exchange(sock).startswith(b"HTTP/1.1 200")
    finally:
        sock.close()
