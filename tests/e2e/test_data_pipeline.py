"""Real `dvc repro` of the data stages."""

from __future__ import annotations

import json

import pandas as pd

from ..projects import DISTORTIONS, PHOTOS, edit_params, run_in


def test_repro_downloads_validates_and_splits(prepared_project):
    project = prepared_project
    manifest = pd.read_csv(project / "data/manifests/embedded.csv")
    assert len(manifest) == len(PHOTOS) * (1 + len(DISTORTIONS) * 5)
    assert (manifest["label_source"] == "synthetic:haarpsi").all()
    report = json.loads((project / "reports/validation/embedded/result.json").read_text())
    assert report["success"] and report["rows"] == len(manifest)
    assert (project / "reports/validation/embedded/data_docs/index.html").is_file()
    split = pd.read_csv(project / "data/splits/embedded/seed-0.csv")
    assert set(split["split"]) == {"train", "val", "test"} and len(split) == len(manifest)


def test_a_second_repro_of_the_data_changes_nothing(project):
    result = run_in(project, "dvc", "repro", "split@embedded")
    assert "didn't change, skipping" in result.stdout and "Running stage" not in result.stdout


def test_dag_shows_the_stages(prepared_project):
    dag = run_in(prepared_project, "dvc", "dag").stdout
    for stage in ("download@embedded", "validate@embedded", "split@embedded", "encode_latents", "train_teacher",
                  "teacher_targets", "distill_student"):
        assert stage in dag


def test_invalid_data_stops_the_pipeline_before_split(project):
    """Images smaller than scoring accepts: validate re-runs on the limit, fails, and split keeps its old output."""
    split_file = project / "data/splits/embedded/seed-0.csv"
    before = split_file.stat().st_mtime_ns
    edit_params(project, lambda p: p["score"].update(min_image_side=1000))
    result = run_in(project, "dvc", "repro", check=False)
    assert result.returncode != 0
    assert "expect_column_values_to_be_between on 'min_side'" in result.stderr
    assert "images/astronaut/astronaut_t0.png" in result.stderr
    assert split_file.stat().st_mtime_ns == before
    assert not (project / "models/teacher").exists()
