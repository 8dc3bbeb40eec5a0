"""Faults: a training stage killed mid-epoch, a checkpoint write interrupted, a locked MLflow
database. (Cut and corrupted downloads: test_downloads.py.)"""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from dpiqa.tracking.runs import stage_run
from dpiqa.train.fit import AtomicCheckpointIO

from ..conftest import REPO
from ..projects import edit_params, run_in

MLFLOW_OWN_WAIT_S = 20  # MLflow sets PRAGMA busy_timeout = 20000 on SQLite sessions


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


def test_an_interrupted_checkpoint_write_leaves_the_previous_one_intact(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "weights": torch.ones(3)}, path)

    def killed_midway(checkpoint, target, *args, **kwargs):
        with open(target, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr("lightning.fabric.plugins.io.torch_io._atomic_save", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"epoch": 2, "weights": torch.zeros(3)}, path)
    assert torch.load(path, weights_only=True)["epoch"] == 1


def test_a_locked_mlflow_database_is_waited_for_not_crashed_on(make_params, tmp_path, monkeypatch, caplog):
    """The lock is taken mid-stage and held past MLflow's own 20 s while the stage ends: the run
    must still be recorded as FINISHED."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_bytes((REPO / "params.yaml").read_bytes())
    database = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database}")
    tracking = make_params().tracking
    with stage_run("evaluate", tracking, {"attempt": 1}) as tracker:
        tracker.log_metrics({"srcc": 0.5})
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); "
             "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(float(sys.argv[2])); c.rollback()",
             str(database), str(MLFLOW_OWN_WAIT_S + 5)], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
    holder.wait()
    assert time.monotonic() - started >= MLFLOW_OWN_WAIT_S  # MLflow alone would have raised by then
    assert "locked by another process; retrying" in caplog.text
    client = MlflowClient(tracking_uri=f"sqlite:///{database}")
    [run] = client.search_runs([client.get_experiment_by_name(tracking.experiment).experiment_id],
                               filter_string="tags.`dpiqa.kind` = 'stage'")
    assert run.info.status == "FINISHED" and run.data.metrics["srcc"] == 0.5
