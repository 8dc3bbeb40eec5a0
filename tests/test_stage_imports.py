"""Stages that read files, or have nothing to train in the embedded default, start without the model
libraries: torch, Lightning and diffusers cost each such stage seconds on every `dvc repro`."""

import pytest

from .conftest import heavy_modules_after
from .projects import REPO

MODEL_LIBRARIES = ("torch", "lightning", "diffusers", "transformers")


@pytest.mark.parametrize("stage", ["report", "register", "seed", "pretrain_prior"])
def test_the_stage_script_loads_no_model_library(stage):
    script = REPO / "stages" / f"{stage}.py"
    code = f"import runpy\nrunpy.run_path({str(script)!r}, run_name='probe')"
    assert heavy_modules_after(code, heavy=MODEL_LIBRARIES) == set()
