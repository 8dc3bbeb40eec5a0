"""The diffusion prior in the registry: registered with its record and lineage, sampled through MLflow."""

import base64
import io

import mlflow
import pandas as pd
import torch
from diffusers import DDPMScheduler
from mlflow.tracking import MlflowClient
from PIL import Image

from dpiqa.models.prior import save_prior
from dpiqa.models.prior_record import save_no_prior
from dpiqa.models.profiles import random_vae_unet
from dpiqa.registry.prior import register_prior


def test_a_registered_prior_draws_the_same_image_for_the_same_seed(make_params, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # MLflow writes artifacts under the working directory
    mlflow.set_tracking_uri(uri)
    params = make_params({"pretrain_prior": {"out": str(tmp_path / "prior")}})
    assert register_prior(MlflowClient(), params.model_copy(), {}) is None  # nothing trained yet: nothing registered
    torch.manual_seed(0)
    vae, unet = random_vae_unet(params.profile.teacher)
    context = torch.randn(1, 3, unet.config.cross_attention_dim)
    save_prior(params.pretrain_prior.out, vae, unet, DDPMScheduler(**params.pretrain_prior.noise_schedule), context,
               {"images": 6, "vae_val_psnr_db": 15.0, "vae_input_range": "unit"})

    with mlflow.start_run():
        registered = register_prior(MlflowClient(), params, {"dvc.data/splits/embedded/seed-0.csv": "abc123"})
    name = params.register_.prior_name
    assert registered == {"name": name, "version": "1", "uri": f"models:/{name}@challenger"}
    version = MlflowClient().get_model_version(name, "1")
    assert version.tags["images"] == "6" and version.tags["dvc.data/splits/embedded/seed-0.csv"] == "abc123"

    model = mlflow.pyfunc.load_model(registered["uri"])
    images = model.predict(pd.DataFrame({"seed": [0, 0, 1]}), params={"steps": 2})["image"]
    decoded = [Image.open(io.BytesIO(base64.b64decode(image))) for image in images]
    side = params.profile.image_size
    assert all(image.size == (side, side) and image.mode == "RGB" for image in decoded)
    assert images[0] == images[1] != images[2]


def test_no_prior_is_registered_where_none_was_trained(make_params, tmp_path):
    params = make_params({"pretrain_prior": {"out": str(tmp_path / "prior")}})
    save_no_prior(params.pretrain_prior.out, "the sd15 profile's teacher starts from Stable Diffusion")
    assert register_prior(MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"), params, {}) is None
