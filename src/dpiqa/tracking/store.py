"""Where MLflow keeps runs and models: light enough for the CLI to import before any model."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from dpiqa.errors import DPIQAError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_ARTIFACTS = "mlartifacts"
CONNECT_TIMEOUT_S = 3  # MLflow itself would retry an unreachable server for minutes


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set (a team's server), else the project's own SQLite file."""
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)


def reachable_tracking_uri() -> str:
    """`tracking_uri()`, after checking that a tracking server there accepts connections: a server
    that is not running is a one-line error naming the URI and how to start it, at once."""
    uri = tracking_uri()
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as error:
            raise DPIQAError(
                f"no MLflow tracking server answers at {uri} (MLFLOW_TRACKING_URI): {error.strerror or error}. "
                "Start the team's servers with `make server` (`dpiqa server start`), or unset MLFLOW_TRACKING_URI "
                "to track in this checkout's mlflow.db") from error
    return uri
