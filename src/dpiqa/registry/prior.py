"""The diffusion prior in the model registry (`dpiqa-prior`): a pyfunc that draws images from it.

Input: a column `seed` (integers); output: a column `image`, each a base64 PNG sampled with DDIM
from that seed's noise (`params={"steps": n}` sets the step count). The same seed gives the same
image, so a registered prior can be looked at, compared and traced to the data it learnt from.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from torchvision.transforms.functional import to_pil_image

import dpiqa
from dpiqa.config import Params
from dpiqa.errors import DPIQAError
from dpiqa.models.prior import load_prior, sample_images
from dpiqa.models.prior_record import prior_info
from dpiqa.registry.pyfunc import pinned_requirements
from dpiqa.registry.registry import registry_lock

SEED_COLUMN, IMAGE_COLUMN = "seed", "image"


def _signature(steps: int) -> ModelSignature:
    return ModelSignature(inputs=Schema([ColSpec("long", SEED_COLUMN)]), outputs=Schema([ColSpec("string", IMAGE_COLUMN)]),
                          params=ParamSchema([ParamSpec("steps", "long", steps)]))


class PriorPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.vae, self.unet, self.schedule, self.context, info = load_prior(Path(context.artifacts["prior"]))
        self.input_range = info["vae_input_range"]

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        if SEED_COLUMN not in model_input:
            raise DPIQAError(f"the input needs a column {SEED_COLUMN!r} of integer seeds")
        steps = int((params or {}).get("steps", 50))
        encoded = []
        for seed in model_input[SEED_COLUMN].astype(int):
            [image] = sample_images(self.vae, self.unet, self.schedule, self.context, count=1, steps=steps,
                                    seed=int(seed), input_range=self.input_range)
            buffer = io.BytesIO()
            to_pil_image(image).save(buffer, format="PNG")
            encoded.append(base64.b64encode(buffer.getvalue()).decode())
        return pd.DataFrame({IMAGE_COLUMN: encoded})


def register_prior(client: MlflowClient, params: Params, tags: dict[str, str]) -> dict | None:
    """Log the prior folder as a pyfunc model, register a new `register.prior_name` version with
    its training record and data lineage as tags, alias it challenger. None when no prior was trained."""
    folder = params.pretrain_prior.out
    info = prior_info(folder)
    if not info.get("trained"):
        return None
    name = params.register_.prior_name
    model = mlflow.pyfunc.log_model(
        name="diffusion_prior", python_model=PriorPyfunc(), artifacts={"prior": str(folder)},
        code_paths=[str(Path(dpiqa.__file__).parent)], signature=_signature(params.pretrain_prior.samples.inference_steps),
        pip_requirements=pinned_requirements(), registered_model_name=name,
    )
    version = model.registered_model_version
    for key, value in {**{k: v for k, v in info.items() if k != "trained"}, **tags}.items():
        client.set_model_version_tag(name, version, key, str(value))
    with registry_lock(client.tracking_uri):
        client.set_registered_model_alias(name, params.register_.challenger_alias, version)
    return {"name": name, "version": str(version), "uri": f"models:/{name}@{params.register_.challenger_alias}"}
