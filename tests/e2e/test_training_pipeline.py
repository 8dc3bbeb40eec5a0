"""Real `dvc repro` through training, real MLflow (sqlite), a killed stage resumed, and DDP."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from ..projects import EPOCHS, edit_params, run_in, with_prior


def _client(project) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def test_repro_trains_teacher_and_student_and_writes_metrics(trained):
    for kind in ("teacher", "student"):
        assert (trained / f"models/{kind}/model.safetensors").is_file()
        config = json.loads((trained / f"models/{kind}/config.json").read_text())
        assert config["_class_name"] == f"DPIQA{kind.title()}"
        training = config["training"]
        assert training["dataset"] == "embedded" and training["mos_range"] == [0, 100]
        assert training["recipe"]["epochs"] == EPOCHS and training["profile"] == "tiny"
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


def test_the_teacher_starts_from_the_pretrained_prior_which_is_tracked_and_registered(trained):
    prior = json.loads((trained / "models/prior/prior.json").read_text())
    assert prior["trained"] and prior["images"] > 0 and prior["conditioning"] == "empty"
    assert (trained / "reports/prior/samples.png").is_file() and (trained / "reports/prior/curves.png").is_file()
    from safetensors.torch import load_file

    teacher = load_file(trained / "models/teacher/model.safetensors")
    vae = load_file(trained / "models/prior/vae/diffusion_pytorch_model.safetensors")
    for name, tensor in vae.items():  # frozen in the teacher: still the prior's weights
        assert torch.equal(teacher[f"vae.{name}"], tensor), name
    client = _client(trained)
    experiment = client.get_experiment_by_name("dpiqa")
    [run] = client.search_runs([experiment.experiment_id], "attributes.run_name = 'pretrain_prior'")
    assert len(client.get_metric_history(run.info.run_id, "unet/val_loss")) == 1
    assert "prior/samples.png" in {a.path for a in client.list_artifacts(run.info.run_id, "prior")}
    version = client.get_model_version_by_alias("dpiqa-prior", "challenger")
    assert version.run_id == run.info.run_id and version.tags["dvc.data/splits/embedded"].endswith(".dir")
    report = (trained / "reports/report.md").read_text()
    assert "## Diffusion prior" in report and "## What the prior buys" in report  # the committed ablation, quoted


def test_a_folder_of_unlabelled_images_becomes_the_prior_and_adding_one_reruns_it(project_after_repro):
    from ..data.conftest import write_image

    project = project_after_repro
    for index in range(5):
        write_image(project / "data/unlabelled" / f"{index}.png", seed=index, side=64)
    stale = _stale_stages(project)
    assert "pretrain_prior" in stale and "train_teacher" not in stale  # downstream waits for the new prior
    edit_params(project, lambda p: p["pretrain_prior"].update(source="folder", holdout_fraction=0.2))
    run_in(project, "dvc", "repro", "pretrain_prior")
    prior = json.loads((project / "models/prior/prior.json").read_text())
    assert (prior["images"], prior["held_out"]) == (4, 1)
    write_image(project / "data/unlabelled/more/5.png", seed=5, side=64)
    assert "pretrain_prior" in _stale_stages(project)


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


def _stale_stages(project) -> set[str]:
    return set(json.loads(run_in(project, "dvc", "status", "--json").stdout))


def test_dvc_reruns_the_stages_whose_params_changed_and_no_others(project_after_repro):
    """The inactive profile is no stage's input; every `score` setting is the evaluate stage's
    (its Scorer measures the latency the promotion gate reads)."""
    project = project_after_repro
    edit_params(project, lambda p: p["models"]["profiles"]["sd15"]["student"].update(mlp_hidden=256))
    assert _stale_stages(project) == set()
    edit_params(project, lambda p: p["score"].update(engine="torch"))
    assert {"evaluate", "register"} <= _stale_stages(project)
    assert not {"encode_latents", "train_teacher", "distill_student"} & _stale_stages(project)


def test_online_teacher_targets_distil_from_the_trained_teacher_without_cached_maps(project_after_repro):
    project = project_after_repro

    def online(params):
        params["teacher_targets"]["mode"] = "online"
        params["distill_student"]["recipes"]["tiny"]["map_loss_weight"] = 1.0

    edit_params(project, online)
    assert {"teacher_targets", "distill_student"} <= _stale_stages(project)
    assert "train_teacher" not in _stale_stages(project)
    run_in(project, "dvc", "repro", "distill_student")
    from safetensors import safe_open

    with safe_open(project / "models/teacher_targets.safetensors", framework="pt") as handle:
        assert handle.metadata()["mode"] == "online" and not list(handle.keys())
    client = _client(project)
    runs = client.search_runs([client.get_experiment_by_name("dpiqa").experiment_id],
                              filter_string="attributes.run_name = 'distill_student'", order_by=["start_time DESC"])
    history = client.get_metric_history(runs[0].info.run_id, "train/map_mse")
    assert history and all(0 < point.value < float("inf") for point in history)  # maps from the teacher, every epoch


def test_every_split_seed_is_trained_and_tested_and_the_report_gives_the_median(project_after_repro):
    project = project_after_repro
    edit_params(project, lambda p: p["split"].update(seeds=[0, 1]))
    assert not {"encode_latents", "train_teacher", "distill_student"} & _stale_stages(project)  # their split is unchanged
    repro = run_in(project, "dvc", "repro").stdout
    assert "Running stage 'seed@1'" in repro and "Running stage 'train_teacher'" not in repro
    metrics = json.loads((project / "reports/metrics.json").read_text())
    own = json.loads((project / "reports/seeds/0.json").read_text())
    assert own["teacher"]["srcc"] == metrics["teacher"]["embedded"]["srcc"] and "pipeline" in own["models"]
    other = json.loads((project / "reports/seeds/1.json").read_text())
    split = pd.read_csv(project / "data/splits/embedded/seed-1.csv")
    assert other["models"] == "trained for this seed"
    assert other["teacher"]["images"] == other["student"]["images"] == (split["split"] == "test").sum()
    assert -1 <= other["teacher"]["srcc"] <= 1 and other["teacher"]["srcc"] != own["teacher"]["srcc"]
    assert not (project / "models/checkpoints/seed-1/outputs").exists(), "a finished seed keeps no models"
    client = _client(project)
    names = {r.info.run_name for r in client.search_runs([client.get_experiment_by_name("dpiqa").experiment_id])}
    assert {"train_teacher@seed-1", "distill_student@seed-1"} <= names
    report = (project / "reports/report.md").read_text()
    assert "## Split seeds" in report and re.search(r"\| median +\| 2 seeds", report)


def test_ddp_on_two_cpu_processes_pretrains_the_prior_and_trains_two_epochs(project):
    def distributed(params):
        params["train"].update(accelerator="cpu", devices=2, strategy="ddp")
        with_prior(params)

    edit_params(project, distributed)
    result = run_in(project, "dvc", "repro", "train_teacher", timeout=600)
    log = result.stdout + result.stderr
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    curve = pd.read_csv(project / "reports/train/teacher_curve.csv")
    assert list(curve["epoch"]) == list(range(EPOCHS))
    assert (project / "models/teacher/model.safetensors").is_file()
    assert json.loads((project / "models/prior/prior.json").read_text())["trained"]


def test_repro_ends_with_challengers_metrics_and_report(trained):
    registry = json.loads((trained / "reports/registry.json").read_text())
    client = _client(trained)
    for kind, name in (("teacher", "dpiqa-teacher"), ("student", "dpiqa-student")):
        version = client.get_model_version_by_alias(name, "challenger")
        assert registry[kind]["version"] == str(version.version)
        assert float(version.tags["test_srcc"]) == pytest.approx(
            json.loads((trained / "reports/metrics.json").read_text())[kind]["embedded"]["srcc"])
        assert version.tags["git.commit"] and version.tags["dvc.data/manifests/embedded.csv"]
    metrics = json.loads((trained / "reports/metrics.json").read_text())
    assert set(metrics["student"]["embedded"]) >= {"srcc", "srcc_ci", "krcc", "plcc", "plcc_logistic", "rmse"}
    assert (trained / "reports/predictions/embedded.csv").is_file()
    page = (trained / "reports/report.html").read_text()
    assert "data:image/png;base64," in page and "Provenance" in page and "Quality maps" in page
    assert {p.name for p in (trained / "reports/figures").glob("maps_*.png")} == {"maps_teacher.png", "maps_student.png"}


def _promote_leniently(project):
    edit_params(project, lambda p: p["promote"].update(srcc_margin=1.0, teacher_margin=1.0, max_latency_s=100.0))
    return run_in(project, "dpiqa", "promote", "dpiqa-student")


def test_promote_then_score_a_folder_with_the_champion(project_after_repro):
    project = project_after_repro
    promoted = _promote_leniently(project)
    assert "is now champion" in promoted.stdout
    images = project / "to_score"
    images.mkdir()
    for source in sorted((project / "data/datasets/embedded/images/astronaut").glob("*.png"))[:3]:
        (images / source.name).write_bytes(source.read_bytes())
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    result = run_in(project, "dpiqa", "score", "to_score", "--out", "scores.csv", check=False)
    assert result.returncode == 1 and "scored 3 of 4 images; 1 failed" in result.stderr
    scores = pd.read_csv(project / "scores.csv")
    assert scores["score"].notna().sum() == 3 and "not a readable image" in scores.loc[scores["score"].isna(), "error"].iloc[0]
    assert (scores["scale"].dropna() == "0-100 (embedded)").all()
