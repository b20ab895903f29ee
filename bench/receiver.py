"""The benchmark's webhook receiver: a bare ASGI app that takes every delivery (200) and
counts them, served by uvicorn in its own process (``python -m bench.receiver PORT``).

A receiver like the ones webhooks are sent to in production: HTTP/1.1 with keep-alive
and a full listen backlog. The standard library's ``http.server`` used before answered
HTTP/1.0 (a connection per delivery) with a backlog of 5, so concurrent deliveries
waited on dropped connection attempts (1 s each): the bench measured its receiver, not
the dispatcher (138 ms per delivery on average, measured)."""

from __future__ import annotations

import sys
from typing import Any

received = 0


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global received
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "POST":
        received += 1
        body = b"ok"
    else:
        body = str(received).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        backlog=4096,
        access_log=False,
        lifespan="off",
    )
