"""Small copies of the project (4 photos of one tile, 3 distortions, 2 epochs) where real `dvc repro` runs.

Fixtures shared by the end-to-end and reliability tests (imported by tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket"]
DISTORTIONS = ["gaussian_blur", "jpeg", "white_noise"]
EPOCHS = 2


def _command_and_environment(command: tuple[str, ...], extra_env: dict[str, str] | None) -> tuple[list[str], dict]:
    """A command of the venv (dvc, python, dpiqa) where there is one; offline, with the default MLflow
    store unless `extra_env` names another."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", HF_HUB_OFFLINE="1", **(extra_env or {}))
    executable = str(bin_dir / command[0]) if (bin_dir / command[0]).exists() else command[0]
    return [executable, *command[1:]], env


def start_in(project: Path, *command: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """`run_in`, in the background: output (stdout and stderr) in the process's `stdout`."""
    arguments, env = _command_and_environment(command, extra_env)
    return subprocess.Popen(arguments, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run_in(project: Path, *command: str, check: bool = True, extra_env: dict[str, str] | None = None,
           **kwargs) -> subprocess.CompletedProcess:
    """Run a command of the venv (dvc, python) in `project`, offline, with the default MLflow store."""
    arguments, env = _command_and_environment(command, extra_env)
    result = subprocess.run(arguments, cwd=project, env=env, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def edit_params(project: Path, edit: Callable[[dict], None], file: str = "params.yaml") -> None:
    """Edit a project's params.yaml (or, with file="workspace.yaml", its paths and machine settings)."""
    path = project / file
    params = yaml.safe_load(path.read_text())
    edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _shrink(params: dict) -> None:
    embedded = params["data"]["sources"]["embedded"]
    embedded["photos"] = PHOTOS
    embedded["distortions"] = {k: embedded["distortions"][k] for k in DISTORTIONS}
    embedded["tiles_per_side"] = 1
    for stage in ("train_teacher", "distill_student"):
        params[stage]["recipes"]["tiny"]["epochs"] = EPOCHS
    params["distill_student"]["recipes"]["tiny"]["map_loss_weight"] = 0.5  # the paper's path: cached maps distilled
    prior = params["pretrain_prior"]
    prior["vae"]["epochs"] = prior["unet"]["epochs"] = 1
    prior["samples"].update(count=4, inference_steps=5)


def with_prior(params: dict) -> None:
    """The teacher starts from the pretrain_prior stage's prior (the default starts from random weights)."""
    params["models"]["profiles"]["tiny"]["teacher"]["prior"] = True


def new_project(root: Path) -> Path:
    """The pipeline files, shrunk, in a fresh git + DVC project: nothing run yet."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "params.yaml", "workspace.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    ignore = shutil.ignore_patterns("tmp", "cache", "__pycache__")
    for folder in ("stages", "src", ".dvc"):
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    (root / "data/unlabelled").mkdir(parents=True)  # pretrain_prior's folder source: no images of this checkout
    (root / "reports/benchmarks").mkdir(parents=True)  # the by-hand results the report quotes
    for result in (REPO / "reports/benchmarks").glob("prior_ablation_*.json"):
        shutil.copy(result, root / "reports/benchmarks" / result.name)
    shutil.copy(REPO / "data/unlabelled/README.md", root / "data/unlabelled/README.md")
    edit_params(root, _shrink)
    edit_params(root, lambda workspace: workspace["runtime"].update(num_workers=0), "workspace.yaml")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


PARAMS_TRACE = ".params_trace"  # in a project: <stage>.json, the params each stage read


def _traced(project: Path) -> dict[str, str]:
    """The environment that makes every stage record the params it reads (tests/params_trace)."""
    (project / PARAMS_TRACE).mkdir(exist_ok=True)
    return {"DPIQA_PARAMS_TRACE": str(project / PARAMS_TRACE), "PYTHONPATH": str(REPO / "tests" / "params_trace")}


@pytest.fixture(scope="session")
def prepared_project(tmp_path_factory) -> Path:
    """A new project with the data stages already run."""
    root = new_project(tmp_path_factory.mktemp("prepared"))
    run_in(root, "dvc", "repro", "split@embedded", extra_env=_traced(root))
    return root


@pytest.fixture
def project(prepared_project: Path, tmp_path: Path) -> Path:
    """A private copy of the prepared project for a test to change."""
    copy = tmp_path / "project"
    shutil.copytree(prepared_project, copy, symlinks=True)
    return copy


@pytest.fixture(scope="session")
def trained(prepared_project, tmp_path_factory) -> Path:
    """A copy of the prepared project after a full `dvc repro` down the whole path (the prior
    pretrained, the teacher from it), each stage's params reads traced (tests/params_trace)."""
    project = tmp_path_factory.mktemp("trained") / "project"
    shutil.copytree(prepared_project, project, symlinks=True)
    edit_params(project, with_prior)
    run_in(project, "dvc", "repro", extra_env=_traced(project))
    return project


@pytest.fixture
def project_after_repro(trained: Path, tmp_path: Path) -> Path:
    """A private copy of the trained project, for tests that change the registry or params."""
    copy = tmp_path / "project"
    shutil.copytree(trained, copy, symlinks=True)
    return copy
