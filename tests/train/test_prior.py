"""The diffusion prior: pretraining the teacher's VAE and U-Net on unlabelled images."""

import json
import logging

import pytest
import torch
from diffusers import DDPMScheduler
from PIL import Image
from safetensors.torch import load_file

from dpiqa.data.unlabelled import LatentPosteriors, folder_images
from dpiqa.errors import DPIQAError
from dpiqa.models.prior import CONTEXT, load_prior
from dpiqa.models.prior_record import prior_info
from dpiqa.models.profiles import WeightsNotFoundError, build_teacher, random_vae_unet
from dpiqa.models.prompts import build_prompts
from dpiqa.tracking.runs import StageTracker
from dpiqa.train.fit import COMPLETE
from dpiqa.train.prior import AutoencoderModule, LatentDiffusionModule, pretrain_prior, random_crops

from ..conftest import RANDOM_INIT
from ..data.conftest import write_image

QUICK = {"vae": {"epochs": 1, "batch_size": 4}, "unet": {"epochs": 2, "batch_size": 4},
         "samples": {"count": 4, "inference_steps": 2}}


@pytest.fixture
def prior_params(small_dataset, tmp_path):
    def make(**changes):
        config = small_dataset.pretrain_prior
        update = {key: getattr(config, key).model_copy(update=value) for key, value in {**QUICK, **changes}.items()}
        update.update(out=tmp_path / "prior", metrics=tmp_path / "prior.json", figures=tmp_path / "prior_figures")
        train = small_dataset.train.model_copy(update={"checkpoints": tmp_path / "checkpoints"})
        profiles = dict(small_dataset.models.profiles)
        tiny = profiles["tiny"]
        profiles["tiny"] = tiny.model_copy(update={"teacher": tiny.teacher.model_copy(update={"prior": True})})
        models = small_dataset.models.model_copy(update={"profiles": profiles})
        return small_dataset.model_copy(update={"pretrain_prior": config.model_copy(update=update), "train": train,
                                                "models": models})

    return make


def untracked(params) -> StageTracker:
    return StageTracker(None, params.tracking)


def test_random_crops_are_windows_of_each_image():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    crops = random_crops(images, 4)
    assert crops.shape == (2, 3, 4, 4)
    for image, crop in zip(images, crops):
        top, left = divmod(int(crop[0, 0, 0] - image[0, 0, 0]), 8)
        torch.testing.assert_close(crop, image[:, top:top + 4, left:left + 4])
    assert random_crops(images, 8) is images


def test_autoencoder_training_raises_the_held_out_psnr(tiny_profile):
    torch.manual_seed(0)
    vae, _ = random_vae_unet(tiny_profile.teacher)
    module = AutoencoderModule(vae, lr=2e-3, kl_weight=1e-6, crop=32, input_range="unit")
    ramp = torch.linspace(0, 1, 64)
    images = torch.stack([torch.stack([ramp[None, :].expand(64, 64) * a, ramp[:, None].expand(64, 64) * b,
                                       torch.full((64, 64), c)]) for a, b, c in torch.rand(8, 3).tolist()])

    def psnr() -> float:
        module.psnr.reset()
        with torch.no_grad():
            module.validation_step({"image": images}, 0)
        return float(module.psnr.compute())

    before = psnr()
    optimiser = module.configure_optimizers()
    for _ in range(30):
        loss = module.training_step({"image": images}, 0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert psnr() > before + 3


def test_pretraining_lowers_the_denoising_loss(tiny_profile):
    torch.manual_seed(0)
    _, unet = random_vae_unet(tiny_profile.teacher)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    module = LatentDiffusionModule(unet, scheduler, torch.zeros(1, 1, unet.config.cross_attention_dim),
                                   lr=2e-3, scaling_factor=1.0, seed=0)
    pattern = torch.sin(torch.linspace(0, 6, 16))
    latents = LatentPosteriors(torch.stack([pattern[None, :, None] * pattern[None, None, :] * s for s in
                                            torch.linspace(0.5, 1.5, 8)]).expand(8, 4, 16, 16).contiguous(),
                               torch.full((8, 4, 16, 16), 0.01))
    batch = {"mean": latents.mean, "std": latents.std}

    def held_out_loss() -> float:
        with torch.no_grad():
            return float(module.denoising_loss(batch, torch.Generator().manual_seed(1)))

    before = held_out_loss()
    optimiser = module.configure_optimizers()
    for _ in range(40):
        loss = module.training_step(batch, 0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert held_out_loss() < 0.7 * before


def test_the_prior_folder_round_trips_through_the_teachers_loader(prior_params):
    params = prior_params(unet={"epochs": 2, "batch_size": 4, "conditioning": "prompts"})
    summary = pretrain_prior(params, untracked(params))
    folder = params.pretrain_prior.out
    assert summary["trained"] and summary["images"] == 6 and summary["held_out"] == 2
    for part in ("vae/config.json", "vae/diffusion_pytorch_model.safetensors", "unet/config.json",
                 "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json", CONTEXT):
        assert (folder / part).is_file(), part
    assert prior_info(folder)["conditioning"] == "prompts" and json.loads(params.pretrain_prior.metrics.read_text())["trained"]

    teacher = build_teacher(params.profile, params.models.prompt_cache, params.base.seed, params.prior_folder())
    saved_vae = load_file(folder / "vae/diffusion_pytorch_model.safetensors")
    saved_unet = load_file(folder / "unet/diffusion_pytorch_model.safetensors")
    for name, tensor in teacher.vae.state_dict().items():
        torch.testing.assert_close(tensor, saved_vae[name], rtol=0, atol=0)
    for name, tensor in teacher.unet.state_dict().items():
        torch.testing.assert_close(tensor, saved_unet[name], rtol=0, atol=0)
    assert teacher.vae.config.scaling_factor == pytest.approx(summary["scaling_factor"])
    random_init = params.profile.model_copy(update={"teacher": params.profile.teacher.model_copy(update={"prior": False})})
    random_teacher = build_teacher(random_init, params.models.prompt_cache, params.base.seed)
    assert not torch.equal(random_teacher.vae.encoder.conv_in.weight, teacher.vae.encoder.conv_in.weight)

    samples = Image.open(params.pretrain_prior.figures / "samples.png")
    assert samples.size[0] > params.profile.image_size  # a grid of 4
    for curve in ("vae_curve.csv", "unet_curve.csv"):
        assert (params.pretrain_prior.figures / curve).read_text().count("\n") == 1 + (1 if "vae" in curve else 2)
    vae, unet, _, context, info = load_prior(folder)
    assert context.shape == (1, len(build_prompts()), unet.config.cross_attention_dim)  # the teacher's prompt tokens
    assert info["vae_input_range"] == "unit"


def test_a_profile_without_a_prior_says_why_and_a_missing_prior_fails_clearly(prior_params, make_params):
    params = prior_params()
    params = params.model_copy(update={"models": make_params(RANDOM_INIT).models.model_copy(
        update={"prompt_cache": params.models.prompt_cache})})
    assert pretrain_prior(params, untracked(params)) == {"trained": False}
    assert "random weights" in prior_info(params.pretrain_prior.out)["reason"]
    assert params.prior_folder() is None
    with_prior = prior_params().profile
    with pytest.raises(WeightsNotFoundError, match="dvc repro pretrain_prior"):
        build_teacher(with_prior, params.models.prompt_cache, 0, params.pretrain_prior.out)
    with pytest.raises(DPIQAError, match="no trained prior"):
        load_prior(params.pretrain_prior.out)


def test_a_killed_pretraining_resumes_where_it_stopped(prior_params, monkeypatch, caplog):
    params = prior_params()

    def killed(self, batch, index):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # killed in the U-Net's first step: the VAE is done
        patch.setattr(LatentDiffusionModule, "training_step", killed)
        with pytest.raises((KeyboardInterrupt, SystemExit)):
            pretrain_prior(params, untracked(params))
    assert params.pretrain_prior.unet.conditioning == "empty"
    vae_checkpoints = params.train.checkpoints / "pretrain_prior" / "vae"
    assert (vae_checkpoints / "last.ckpt").exists() and not (vae_checkpoints / COMPLETE).exists()
    trained_vae = torch.load(vae_checkpoints / "best.ckpt", weights_only=True)["state_dict"]

    with caplog.at_level(logging.INFO, logger="dpiqa.train.fit"):
        pretrain_prior(params, untracked(params))
    assert "resuming the unfinished run" in caplog.text
    saved = load_file(params.pretrain_prior.out / "vae/diffusion_pytorch_model.safetensors")
    for name, tensor in trained_vae.items():  # the VAE came back from its checkpoint, not retrained
        torch.testing.assert_close(saved[name.removeprefix("vae.")], tensor, rtol=0, atol=0)
    assert (vae_checkpoints / COMPLETE).exists()
    assert load_prior(params.pretrain_prior.out)[3].shape == (1, 1, 32)  # one zero token


def test_a_folder_of_images_is_split_into_training_and_held_out(tmp_path):
    for index in range(10):
        write_image(tmp_path / "photos" / f"sub{index % 2}" / f"{index}.png", seed=index, side=32)
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    train, held_out = folder_images(tmp_path / "photos", 0.2, seed=0)
    assert len(train) == 8 and len(held_out) == 2 and not set(train) & set(held_out)
    assert (train, held_out) == folder_images(tmp_path / "photos", 0.2, seed=0)
    with pytest.raises(DPIQAError, match="holds 1 images"):
        write_image(tmp_path / "one" / "a.jpg", seed=0, side=32)
        folder_images(tmp_path / "one", 0.2, seed=0)
    with pytest.raises(DPIQAError, match="not a folder"):
        folder_images(tmp_path / "missing", 0.2, seed=0)
