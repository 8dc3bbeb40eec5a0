"""Stage runs in a real MLflow store (sqlite): nested params and metrics under flat names."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lightning.pytorch.utilities import rank_zero_only
from mlflow.tracking import MlflowClient

from dpiqa.tracking.runs import dvc_hashes, flatten, is_rank_zero, stage_run

from ..conftest import REPO


def test_nested_mappings_get_dotted_names():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {"a.b": 1, "a.c.d": [1, 2], "e": "x"}
    assert flatten({}) == {}


def test_a_file_inside_a_tracked_folder_takes_the_folder_hash(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  split@x:\n    outs:\n    - path: data/splits/x\n      md5: abc.dir\n"
                    "  download@x:\n    outs:\n    - path: data/manifests/x.csv\n      md5: def\n")
    paths = [Path("data/splits/x/seed-0.csv"), Path("data/manifests/x.csv"), Path("elsewhere.csv")]
    assert dvc_hashes(paths, lock) == {"data/splits/x": "abc.dir", "data/manifests/x.csv": "def"}


def test_a_stage_run_logs_nested_params_and_numeric_metric_leaves(make_params, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_bytes((REPO / "params.yaml").read_bytes())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking = make_params().tracking
    with stage_run("evaluate", tracking, {"train": {"lr": 0.001, "milestones": [2]}}) as tracker:
        tracker.log_metrics({"teacher": {"embedded": {"srcc": 0.5, "srcc_ci": [0.4, 0.6], "images": 10}},
                             "cost": {"scoring_engine": "ONNX Runtime fp32", "ok": True}})
        run_id = tracker.run.info.run_id
    run = MlflowClient().get_run(run_id)
    assert run.data.metrics == {"teacher.embedded.srcc": 0.5, "teacher.embedded.images": 10.0}
    assert run.data.params["train.lr"] == "0.001" and run.data.params["train.milestones"] == "[2]"


@pytest.mark.parametrize(("rank", "node", "zero"), [(0, "0", True), (1, "0", False), (0, "1", False)])
def test_only_the_first_process_of_the_first_node_is_rank_zero(rank, node, zero, monkeypatch):
    monkeypatch.setattr(rank_zero_only, "rank", rank)
    monkeypatch.setenv("NODE_RANK", node)
    assert is_rank_zero() is zero


def test_a_launched_process_gets_its_rank_from_lightning():
    """Lightning reads the rank once, at import: a fresh process, as its launchers start them."""
    env = {k: v for k, v in os.environ.items() if k not in {"RANK", "NODE_RANK", "SLURM_PROCID"}}
    code = "from dpiqa.tracking.runs import is_rank_zero; print(is_rank_zero())"
    result = subprocess.run([sys.executable, "-c", code], env={**env, "LOCAL_RANK": "1"}, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "False"
