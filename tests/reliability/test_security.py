"""Security: weights never run pickled code, the served model stays local and refuses huge
requests, and nothing phones home. (Archive path filtering: test_downloads.py.)"""

import base64
import http.client
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from dpiqa.models.checkpoints import load_weights

from ..network import free_port, listening_addresses
from ..projects import edit_params, run_in

MAX_REQUEST_BYTES = 1_000_000


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickled_code_in_a_checkpoint_is_refused(tiny_student, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": _Payload()}, handle, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        load_weights(tiny_student, path)
    assert not (tmp_path / "pwned").exists()


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_dpiqa_serve_binds_localhost_scores_and_refuses_oversized_requests(project_after_repro):
    project = project_after_repro
    edit_params(project, lambda p: p["promote"].update(srcc_margin=1.0, teacher_margin=1.0, max_latency_s=100.0))
    edit_params(project, lambda w: w["serve"].update(max_request_bytes=MAX_REQUEST_BYTES), "workspace.yaml")
    run_in(project, "dpiqa", "promote", "dpiqa-student")
    port = free_port()
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    server = subprocess.Popen([os.path.join(bin_dir, "dpiqa"), "serve", "--port", str(port)], cwd=project, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/ping", timeout=2)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                time.sleep(1)
        assert listening_addresses(port) == {"127.0.0.1"}

        image = (project / "data/datasets/embedded/images/coffee/coffee_t0_jpeg_5.png").read_bytes()
        rows = [[base64.b64encode(image).decode()], ["bm90IGFuIGltYWdl"]]
        server_file = str(project / "data/datasets/embedded/images/coffee/coffee_t0_jpeg_5.png")
        rows = [[base64.b64encode(image).decode()], ["bm90IGFuIGltYWdl"], [server_file]]
        status, answer = _post(f"{url}/invocations", json.dumps({"dataframe_split": {"columns": ["image"], "data": rows}}).encode())
        assert status == 200
        good, bad, path = answer["predictions"]
        assert isinstance(good["score"], float) and good["score_mos"] == pytest.approx(100 * good["score"])
        assert good["error"] == "" and "not a readable image" in bad["error"]
        assert "file paths are not accepted" in path["error"]  # the server never reads its own files for a client

        declared = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # refused on its headers alone
        declared.putrequest("POST", "/invocations")
        declared.putheader("Content-Type", "application/json")
        declared.putheader("Content-Length", str(50 * MAX_REQUEST_BYTES))
        declared.endheaders(b'{"dataframe_split": ')
        refused = declared.getresponse()
        assert refused.status == 413 and json.loads(refused.read())["error_code"] == "REQUEST_TOO_LARGE"

        streamed = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # chunked: no length declared
        half = b" " * (MAX_REQUEST_BYTES // 2 + 1000)
        streamed.request("POST", "/invocations", body=iter([half, half]), encode_chunked=True,
                         headers={"Content-Type": "application/json"})
        assert streamed.getresponse().status == 413
        assert _post(f"{url}/invocations", json.dumps({"dataframe_split": {"columns": ["image"], "data": rows[:1]}}).encode())[0] == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def test_telemetry_is_off_in_the_project_and_the_package(tmp_path):
    from ..conftest import REPO

    dvc = os.path.join(os.path.dirname(sys.executable), "dvc")
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_NO_ANALYTICS", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    setting = subprocess.run([dvc, "config", "core.analytics"], cwd=REPO, capture_output=True, text=True, env=env)
    assert setting.stdout.strip() == "false"
    script = ("import dpiqa, dvc.analytics, mlflow.telemetry.utils as t; "
              "print(t.is_telemetry_disabled(), dvc.analytics.is_enabled())")
    checked = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert checked.stdout.split() == ["True", "False"], checked.stderr
