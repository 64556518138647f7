"""Running the app under uvicorn, the same way for `serve` and `demo`."""

from __future__ import annotations


def run(*, host: str, port: int, workers: int = 1, forwarded_allow_ips: str = "127.0.0.1",
        log_level: str = "info") -> None:
    import uvicorn

    uvicorn.run(
        "econsult.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvloop sets TCP_NODELAY on accepted sockets; the stock loop with several
        # workers adds ~40 ms per keep-alive request (uvicorn issue 3149).
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level=log_level,
        ws_max_size=64 * 1024,
    )
