"""Serving a registered model over HTTP: MLflow's own scoring app behind a request-size limit.

`mlflow models serve` reads any request body whole, however large; this wraps the same FastAPI
app (same /invocations, /ping, /version routes and payload formats) so that bodies over
`serve.max_request_bytes` are refused with 413 before they are read, and binds to
`serve.host` (127.0.0.1 by default: this machine only).
"""

from __future__ import annotations

import json

import mlflow
import uvicorn
from mlflow.pyfunc import scoring_server

from dpiqa.config import ServeParams


class BodySizeLimit:
    """ASGI middleware: 413 for a declared Content-Length over the limit, or for a body (chunked,
    no length declared) that grows past it while being read; the app gets the body only when
    it fits."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def _refuse(self, send, status: int = 413, code: str = "REQUEST_TOO_LARGE") -> None:
        message = f"request body over the limit of {self.max_bytes:,} bytes" if status == 413 else "bad Content-Length"
        body = json.dumps({"error_code": code, "message": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await self._refuse(send, 400, "BAD_REQUEST")
            return
        if declared is not None and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        messages, received = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body"):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def scoring_app(model_uri: str, max_request_bytes: int):
    """Images come as base64 only: a file path in a request would read the server's own files."""
    model = mlflow.pyfunc.load_model(model_uri)
    model.unwrap_python_model().accept_paths = False
    return BodySizeLimit(scoring_server.init(model), max_request_bytes)


def serve(model_uri: str, settings: ServeParams) -> None:
    uvicorn.run(scoring_app(model_uri, settings.max_request_bytes), host=settings.host, port=settings.port)
