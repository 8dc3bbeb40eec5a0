"""Shared fixtures: the real params.yaml (with its workspace.yaml) shrunk to tmp paths, and a local
HTTP server."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dpiqa.config import Params, read_settings
from dpiqa.models.profiles import build_student, build_teacher

from .projects import REPO, prepared_project, project, project_after_repro, trained  # noqa: F401  (shared fixtures)
from .team import credentials, running_team, team_folder  # noqa: F401  (shared fixtures)

REAL_REPRO = "prepared_project"  # every project fixture starts from it: it runs `dvc repro`


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that runs a real `dvc repro` is `slow`: `make test` skips it, `make test-full` runs it.

    Marked from the fixture graph rather than by hand, so a new end-to-end test cannot slip into
    the fast tier."""
    for item in items:
        if REAL_REPRO in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


HEAVY = ("torch", "mlflow", "great_expectations", "diffusers", "lightning")


def heavy_modules_after(code: str, heavy: tuple[str, ...] = HEAVY) -> set[str]:
    """The heavy packages a fresh interpreter has imported after running `code`."""
    import subprocess
    import sys

    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(result.stdout.split()) & set(heavy)


def scoring_config(profile, dataset: str = "test") -> dict:
    """What a Scorer reads of a model's config.json: its input size and the MOS scale (0-100)."""
    return {"preprocessing": {"image_size": profile.image_size}, "training": {"dataset": dataset, "mos_range": [0, 100]}}


def save_model_folder(model, directory: Path, profile) -> Path:
    """`model` saved as a trained folder would be, as if trained on the embedded set (0-100)."""
    from dpiqa.models.export import save_pretrained

    save_pretrained(model, directory, image_size=profile.image_size,
                    training={"dataset": "embedded", "mos_range": [0, 100], "profile": "tiny", "seed": 0})
    return directory


def deep_update(base: dict, overrides: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture(scope="session")
def raw_params() -> dict:
    return read_settings(REPO / "params.yaml")


@pytest.fixture
def make_params(raw_params: dict, tmp_path: Path) -> Callable[..., Params]:
    """The real params with every output under tmp_path, plus any overrides (nested dicts)."""

    def make(overrides: dict | None = None) -> Params:
        relocated = deep_update(
            raw_params,
            {
                "data": {
                    "root": str(tmp_path / "datasets"),
                    "manifests": str(tmp_path / "manifests"),
                },
                "validate": {"reports": str(tmp_path / "reports")},
                "runtime": {"downloads": str(tmp_path / "downloads"), "download_retries": 2, "validate_workers": 1},
                "split": {"out": str(tmp_path / "splits")},
            },
        )
        return Params.model_validate(deep_update(relocated, overrides or {}))

    return make


class FileServer(ThreadingHTTPServer):
    """Serves a folder with HTTP Range support; can cut connections off midway."""

    daemon_threads = True
    honour_range = True
    drop_after_bytes: int | None = None
    drops_left = 0
    requests_seen: list[dict]


class RangeRequestHandler(SimpleHTTPRequestHandler):
    server: FileServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        self.server.requests_seen.append({"path": self.path, "range": self.headers.get("Range")})
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        requested = self.headers.get("Range")
        if requested and self.server.honour_range:
            start = int(requested.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.drops_left > 0 and self.server.drop_after_bytes is not None:
            self.server.drops_left -= 1
            self.wfile.write(body[: self.server.drop_after_bytes])
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()
            return
        self.wfile.write(body)


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[FileServer, Path, str]]:
    """(server, folder it serves, base URL) on 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(RangeRequestHandler, directory=str(served))
    server = FileServer(("127.0.0.1", 0), handler)
    server.requests_seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()



# Unit tests build tiny teachers from random weights: no pretrain_prior folder needed.
RANDOM_INIT = {"models": {"profiles": {"tiny": {"teacher": {"prior": False}}}}}


@pytest.fixture
def tiny_profile(make_params):
    return make_params(RANDOM_INIT).models.profiles["tiny"]


@pytest.fixture
def sd15_profile(make_params):
    return make_params().models.profiles["sd15"]


@pytest.fixture
def tiny_teacher(tiny_profile, tmp_path):
    return build_teacher(tiny_profile, tmp_path / "prompts", seed=0)


@pytest.fixture
def tiny_student(tiny_profile):
    return build_student(tiny_profile, seed=0)


@pytest.fixture
def make_scorer(make_params):
    """A Scorer for a model with params.yaml's `score` settings plus overrides, on a 0-100 scale."""
    from dpiqa.scoring import Scorer

    def make(model, profile, **overrides) -> Scorer:
        return Scorer(model, scoring_config(profile), make_params({"score": overrides}).score)

    return make
