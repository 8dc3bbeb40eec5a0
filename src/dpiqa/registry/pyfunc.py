"""The trained models as MLflow pyfunc models: a DataFrame of images in, scores out.

Input: a column `image` holding file paths or base64-encoded image bytes. Output: `score` on
[0, 1], `score_mos` on the training dataset's MOS scale, and `error` (empty when scored).
"""

from __future__ import annotations

import base64
import io
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from packaging.requirements import Requirement
from PIL import Image

import dpiqa
from dpiqa.config import ScoreParams
from dpiqa.errors import DPIQAError
from dpiqa.scoring import Scorer

INPUT_COLUMN = "image"
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", INPUT_COLUMN)]),
    outputs=Schema([ColSpec("double", "score", required=False), ColSpec("double", "score_mos", required=False),
                    ColSpec("string", "error")]),
)
EXAMPLE_SIDE = 64


class DPIQAPyfunc(mlflow.pyfunc.PythonModel):
    """Scores with the settings (params `score`) it was registered with: its model_config."""

    accept_paths = True  # `dpiqa serve` turns this off: clients must not read the server's files

    def load_context(self, context) -> None:
        if not context.model_config:
            raise DPIQAError("this model version was registered without scoring settings (params `score`); "
                             "register it again with `dvc repro register`")
        self.folder = Path(context.artifacts["model"])
        self.scorer = Scorer.from_folder(self.folder, ScoreParams.model_validate(context.model_config))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        if INPUT_COLUMN not in model_input:
            raise DPIQAError(f"the input needs a column {INPUT_COLUMN!r} of file paths or base64 images")
        results = self.scorer.score(model_input[INPUT_COLUMN].astype(str).tolist(), accept_paths=self.accept_paths)
        # Object columns keep None for a refused image: MLflow's server writes a float column's
        # NaN as a bare NaN, which is not JSON.
        return pd.DataFrame(
            {
                "score": pd.Series([r.score for r in results], dtype=object),
                "score_mos": pd.Series([r.score_mos for r in results], dtype=object),
                "error": [r.error or "" for r in results],
            }
        )


def example_image() -> str:
    """A small deterministic image as base64 PNG: the logged input example."""
    pixels = np.random.default_rng(0).integers(0, 256, (EXAMPLE_SIDE, EXAMPLE_SIDE, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def pinned_requirements() -> list[str]:
    """This environment's versions of everything dpiqa depends on."""
    names = [Requirement(r).name for r in metadata.requires("dpiqa") or [] if "extra ==" not in r]
    return sorted(f"{name}=={metadata.version(name)}" for name in names)


def log_pyfunc(
    model_dir: Path, registered_name: str, artifact_name: str, settings: ScoreParams
) -> mlflow.models.model.ModelInfo:
    """Log the model folder as a pyfunc model in the active run and register a new version."""
    example = pd.DataFrame({INPUT_COLUMN: [example_image()]})
    return mlflow.pyfunc.log_model(
        name=artifact_name,
        python_model=DPIQAPyfunc(),
        artifacts={"model": str(model_dir)},
        code_paths=[str(Path(dpiqa.__file__).parent)],
        signature=SIGNATURE,
        input_example=example,
        pip_requirements=pinned_requirements(),
        registered_model_name=registered_name,
        model_config=settings.model_dump(),
    )
