"""A team's set-up, for real: pipelines tracking into a PostgreSQL-backed MLflow server, and a DVC
remote on an S3-compatible server, each used from fresh clones."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import load_file

from dpiqa.tracking import servers
from dpiqa.tracking.runs import KIND_TAG, PIPELINE_TAG

from ..projects import edit_params, new_project, run_in, start_in
from ..team import team_settings

PIPELINE_TIMEOUT_S = 900
TRACKED_STAGES = ("pretrain_prior", "train_teacher", "distill_student", "evaluate", "register")  # the data stages ran before
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "dpiqa tests", "GIT_AUTHOR_EMAIL": "tests@dpiqa.invalid",
                "GIT_COMMITTER_NAME": "dpiqa tests", "GIT_COMMITTER_EMAIL": "tests@dpiqa.invalid"}


def _one_epoch(params: dict) -> None:
    for stage in ("train_teacher", "distill_student"):
        params[stage]["recipes"]["tiny"]["epochs"] = 1


def test_two_pipelines_at_once_on_the_server_agree_bit_for_bit_then_a_fresh_clone_scores_the_champion(
        prepared_project, running_team, tmp_path):
    """Alice and Bob run the same params at once: besides the shared server, this is the CPU
    determinism check (identical metrics, predictions and weights from two runs)."""
    team = running_team
    uri = servers.mlflow_uri(team)
    members = {}
    for member in ("alice", "bob"):
        members[member] = tmp_path / member
        shutil.copytree(prepared_project, members[member], symlinks=True)
        edit_params(members[member], _one_epoch)
    pipelines = {member: start_in(project, "dvc", "repro", extra_env={"MLFLOW_TRACKING_URI": uri,
                                                                       "DPIQA_PIPELINE_RUN": f"{member}-run"})
                 for member, project in members.items()}
    for member, process in pipelines.items():
        output, _ = process.communicate(timeout=PIPELINE_TIMEOUT_S)
        assert process.returncode == 0, f"{member}'s pipeline failed:\n{output[-4000:]}"
        assert "locked" not in output, "PostgreSQL needs no lock retries"
    _assert_identical_results(*members.values())

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("dpiqa")
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    stages = {member: [r for r in runs if r.data.tags.get(PIPELINE_TAG) == f"{member}-run"
                       and r.data.tags.get(KIND_TAG) == "stage"] for member in members}
    for member_runs in stages.values():  # every tracked stage of each pipeline, none lost
        assert sorted(r.data.tags["dpiqa.stage"] for r in member_runs) == sorted(TRACKED_STAGES)
    assert all(r.info.status == "FINISHED" for member_runs in stages.values() for r in member_runs)
    for name in ("dpiqa-teacher", "dpiqa-student"):
        assert sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'")) == [1, 2]
    assert not (members["alice"] / "mlflow.db").exists(), "nothing tracked in the checkout"

    alice = members["alice"]
    edit_params(alice, lambda p: p["promote"].update(srcc_margin=1.0, teacher_margin=1.0, max_latency_s=100.0))
    promoted = run_in(alice, "dpiqa", "promote", "dpiqa-student", extra_env={"MLFLOW_TRACKING_URI": uri})
    assert "is now champion" in promoted.stdout

    clone = new_project(tmp_path / "carol")  # a fresh checkout: no data, no models, no mlflow.db
    images = clone / "to_score"
    images.mkdir()
    for source in sorted((alice / "data/datasets/embedded/images/coffee").glob("*.png"))[:3]:
        shutil.copy(source, images / source.name)
    run_in(clone, "dpiqa", "score", "to_score", "--out", "scores.csv", extra_env={"MLFLOW_TRACKING_URI": uri})
    scores = pd.read_csv(clone / "scores.csv")
    assert scores["score"].notna().all() and scores["error"].isna().all() and len(scores) == 3


def _assert_identical_results(first: Path, second: Path) -> None:
    assert json.loads((first / "reports/metrics.json").read_text()) == json.loads((second / "reports/metrics.json").read_text())
    pd.testing.assert_frame_equal(*(pd.read_csv(p / "reports/predictions/embedded.csv") for p in (first, second)))
    for model in ("teacher/model", "student/model"):
        a, b = (load_file(p / f"models/{model}.safetensors") for p in (first, second))
        assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a), model


def test_a_stopped_server_is_named_with_how_to_start_it(prepared_project, team_folder, credentials):
    uri = servers.mlflow_uri(team_settings(team_folder))  # never started
    result = run_in(prepared_project, "dpiqa", "promote", "dpiqa-student", check=False,
                    extra_env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 2
    assert f"error: no MLflow tracking server answers at {uri}" in result.stderr and "make server" in result.stderr


@pytest.fixture
def s3_server(team_folder, credentials):
    team = team_settings(team_folder)
    try:
        servers.start(team, ["s3"])
        yield team
    finally:
        servers.stop(team, ["s3"])


def test_dvc_push_then_a_fresh_clone_pulls_everything_and_is_up_to_date(project_after_repro, s3_server, tmp_path):
    project, endpoint = project_after_repro, servers.s3_endpoint(s3_server)
    # Run state stays out of git; DVC has already written the .gitignore files for its outputs.
    (project / ".gitignore").write_text("mlflow.db\nmlartifacts/\nmodels/checkpoints/\n.params_trace/\n__pycache__/\n")
    run_in(project, "dvc", "remote", "add", "-d", "team", f"s3://{s3_server.bucket}/dvc")
    run_in(project, "dvc", "remote", "modify", "--local", "team", "endpointurl", endpoint)
    run_in(project, "git", "add", "-A")
    run_in(project, "git", "commit", "-qm", "a trained pipeline", extra_env=GIT_IDENTITY)
    run_in(project, "dvc", "push")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
    assert "endpointurl" not in (clone / ".dvc/config").read_text(), "machine settings stay in config.local"
    run_in(clone, "dvc", "remote", "modify", "--local", "team", "endpointurl", endpoint)
    run_in(clone, "dvc", "pull")
    for path in ("data/manifests/embedded.csv", "models/student/model.safetensors", "models/teacher/config.json",
                 "reports/metrics.json", "reports/report.html", "reports/figures/maps_student.png"):
        assert (clone / path).read_bytes() == (project / path).read_bytes(), path
    assert "Data and pipelines are up to date" in run_in(clone, "dvc", "status").stdout
    repro = run_in(clone, "dvc", "repro")
    assert "Running stage" not in repro.stdout, repro.stdout
