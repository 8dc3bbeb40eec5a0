"""Real `dvc repro` through training, real MLflow (sqlite), a killed stage resumed, and DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from .conftest import EPOCHS, edit_params, run_in


@pytest.fixture(scope="module")
def trained(prepared_project, tmp_path_factory):
    """A copy of the prepared project after a full `dvc repro`."""
    import shutil

    project = tmp_path_factory.mktemp("trained") / "project"
    shutil.copytree(prepared_project, project, symlinks=True)
    run_in(project, "dvc", "repro")
    return project


def _client(project) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def test_repro_trains_teacher_and_student_and_writes_metrics(trained):
    for kind in ("teacher", "student"):
        assert (trained / f"models/{kind}/model.safetensors").is_file()
        info = json.loads((trained / f"models/{kind}/model.json").read_text())
        assert info["kind"] == kind and info["dataset"] == "embedded" and info["mos_range"] == [0, 100]
        curve = pd.read_csv(trained / f"reports/train/{kind}_curve.csv")
        assert list(curve["epoch"]) == list(range(EPOCHS)) and curve["val_srcc"].notna().all()
        metrics = json.loads((trained / f"reports/train/{kind}.json").read_text())
        assert metrics["best_val_srcc"] == pytest.approx(curve["val_srcc"].max())
    targets_file = trained / "models/teacher_targets.safetensors"
    from safetensors import safe_open

    with safe_open(targets_file, framework="pt") as handle:
        images = json.loads(handle.metadata()["images"])
        maps = handle.get_tensor("maps")
    split = pd.read_csv(trained / "data/splits/embedded/seed-0.csv")
    assert sorted(images) == sorted(split.loc[split["split"] == "train", "image"])
    assert maps.shape[1:] == (8, 16, 16) and torch.isfinite(maps).all()


def test_dvc_metrics_show_reads_both_models(trained):
    shown = run_in(trained, "dvc", "metrics", "show", "--json").stdout
    assert "best_val_srcc" in shown and "teacher.json" in shown and "student.json" in shown


def test_mlflow_holds_params_curves_inputs_tags_and_artifacts(trained):
    client = _client(trained)
    experiment = client.get_experiment_by_name("dpiqa")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert {"train_teacher", "distill_student"} <= set(runs)
    parents = {r.data.tags["mlflow.parentRunId"] for name, r in runs.items() if name in ("train_teacher", "distill_student")}
    assert len(parents) == 1 and runs[next(n for n in runs if n.startswith("pipeline"))].info.run_id in parents
    for name in ("train_teacher", "distill_student"):
        run = runs[name]
        assert run.data.params[f"{name}.recipes.tiny.epochs"] == str(EPOCHS)
        assert run.data.params["base.dataset"] == "embedded"
        assert len(client.get_metric_history(run.info.run_id, "val/srcc")) == EPOCHS
        assert len(client.get_metric_history(run.info.run_id, "train/loss")) == EPOCHS
        contexts = {i.tags[0].value for i in run.inputs.dataset_inputs}
        assert contexts == {"training", "validation"}
        assert all(i.dataset.digest for i in run.inputs.dataset_inputs)
        tags = run.data.tags
        assert tags["git.commit"] and tags["dpiqa.stage"] == name
        assert tags["dvc.data/manifests/embedded.csv"] and tags["dvc.data/splits/embedded"].endswith(".dir")
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "params.yaml" in artifacts and "model" in artifacts
        kind = "teacher" if name == "train_teacher" else "student"
        model_files = {a.path for a in client.list_artifacts(run.info.run_id, f"model/{kind}")}
        assert f"model/{kind}/model.safetensors" in model_files


def test_a_second_repro_changes_nothing(trained):
    result = run_in(trained, "dvc", "repro")
    assert "Data and pipelines are up to date" in result.stdout


def test_a_killed_training_stage_resumes_from_its_last_checkpoint(project):
    edit_params(project, lambda p: p["train_teacher"]["recipes"]["tiny"].update(epochs=4))
    run_in(project, "dvc", "repro", "split@embedded")
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    first = subprocess.Popen([os.path.join(bin_dir, "dvc"), "repro", "train_teacher"], cwd=project, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    last = project / "models/checkpoints/train_teacher/last.ckpt"
    deadline = time.monotonic() + 240
    while not last.exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    epoch_at_kill = torch.load(last, weights_only=False, map_location="cpu")["epoch"]
    assert epoch_at_kill < 3 and not (project / "models/checkpoints/train_teacher/COMPLETE").exists()
    resumed = run_in(project, "dvc", "repro", "train_teacher")
    assert "resuming the unfinished run" in resumed.stderr
    curve = pd.read_csv(project / "reports/train/teacher_curve.csv")
    assert list(curve["epoch"]) == [0, 1, 2, 3]


def test_ddp_on_two_cpu_processes_trains_two_epochs(project):
    def distributed(params):
        params["train"].update(accelerator="cpu", devices=2, strategy="ddp", precision={"cpu": "32-true", "gpu": "16-mixed"})

    edit_params(project, distributed)
    result = run_in(project, "dvc", "repro", "train_teacher", timeout=600)
    log = result.stdout + result.stderr
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    curve = pd.read_csv(project / "reports/train/teacher_curve.csv")
    assert list(curve["epoch"]) == list(range(EPOCHS))
    assert (project / "models/teacher/model.safetensors").is_file()
