"""Real `dvc repro` of the data stages on a shrunk copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ..conftest import REPO

SMALL_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket"]
SMALL_DISTORTIONS = ["gaussian_blur", "jpeg", "white_noise"]


def _dvc(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([Path(sys.executable).parent / "dvc", *args], cwd=project, env=env,
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The repo's pipeline files in a fresh git+DVC project, with a small embedded set."""
    root = tmp_path_factory.mktemp("project")
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    for folder in ("stages", "src", ".dvc"):
        ignore = shutil.ignore_patterns("tmp", "cache", "__pycache__")
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    embedded = params["data"]["sources"]["embedded"]
    embedded["photos"] = SMALL_PHOTOS
    embedded["distortions"] = {k: embedded["distortions"][k] for k in SMALL_DISTORTIONS}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    _dvc(root, "repro")
    return root


def test_repro_downloads_validates_and_splits(project):
    manifest = pd.read_csv(project / "data/manifests/embedded.csv")
    assert len(manifest) == len(SMALL_PHOTOS) * (1 + len(SMALL_DISTORTIONS) * 5)
    assert (manifest["label_source"] == "synthetic:ms_ssim").all()
    report = yaml.safe_load((project / "reports/validation/embedded/result.json").read_text())
    assert report["success"] and report["rows"] == len(manifest)
    assert (project / "reports/validation/embedded/data_docs/index.html").is_file()
    split = pd.read_csv(project / "data/splits/embedded/seed-0.csv")
    assert set(split["split"]) == {"train", "val", "test"} and len(split) == len(manifest)


def test_a_second_repro_changes_nothing(project):
    assert "Data and pipelines are up to date" in _dvc(project, "repro").stdout
    assert _dvc(project, "status").stdout.strip().endswith("up to date.")


def test_dag_shows_the_stages(project):
    dag = _dvc(project, "dag").stdout
    for stage in ("download@embedded", "validate@embedded", "split@embedded"):
        assert stage in dag


def test_invalid_data_stops_the_pipeline_before_split(project):
    """Images smaller than the params demand: validate fails and split keeps its old output."""
    params_file = project / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["validate"]["min_image_side"] = 1000
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    split_file = project / "data/splits/embedded/seed-0.csv"
    before = split_file.stat().st_mtime_ns
    try:
        result = _dvc(project, "repro", check=False)
    finally:
        params_file.write_text(original)
    assert result.returncode != 0
    assert "expect_column_values_to_be_between on 'min_side'" in result.stderr
    assert "images/astronaut/astronaut.png" in result.stderr
    assert split_file.stat().st_mtime_ns == before
