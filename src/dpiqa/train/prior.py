"""The teacher's diffusion prior, learnt from unlabelled images with diffusers' own classes: the
VAE as a KL-regularised autoencoder, then the U-Net as a latent diffusion model (DDPM noise
prediction) on that VAE's latents. The teacher then starts from both, as it would from SD v1.5.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import lightning as L
import matplotlib
import pandas as pd
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from torchmetrics.image import PeakSignalNoiseRatio
from torchvision.utils import save_image

from dpiqa.config import Params, PretrainPriorView
from dpiqa.data.unlabelled import (
    LatentPosteriors,
    UnlabelledDataModule,
    UnlabelledImages,
    folder_images,
    split_images,
)
from dpiqa.models.checkpoints import read_state_dict
from dpiqa.models.inference import run_over
from dpiqa.models.prior import from_vae_range, sample_images, save_prior, to_vae_range
from dpiqa.models.profiles import prompt_embeddings, random_vae_unet
from dpiqa.models.teacher import SharedPromptAttnProcessor
from dpiqa.strict_json import dumps_json
from dpiqa.tracking.runs import StageTracker, is_rank_zero
from dpiqa.train.fit import fit, mark_complete
from dpiqa.train.prior_plan import record_no_prior

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

log = logging.getLogger(__name__)
FIGURE_DPI = 110

VAE_CURVE = {"train_loss": "vae/train_loss", "train_kl": "vae/train_kl", "val_psnr": "vae/val_psnr"}
UNET_CURVE = {"train_loss": "unet/train_loss", "val_loss": "unet/val_loss"}


def random_crops(images: torch.Tensor, side: int) -> torch.Tensor:
    """A `side` x `side` window of each image at a random place (the whole image when not larger)."""
    height, width = images.shape[-2:]
    if side >= min(height, width):
        return images
    tops = torch.randint(height - side + 1, (len(images),)).tolist()
    lefts = torch.randint(width - side + 1, (len(images),)).tolist()
    return torch.stack([image[:, top:top + side, left:left + side] for image, top, left in zip(images, tops, lefts)])


class AutoencoderModule(L.LightningModule):
    """MSE of the reconstruction from a posterior sample + kl_weight x KL(posterior || N(0, I)) per
    pixel, on random `crop` x `crop` windows (the autoencoder is convolutional: a quarter of the
    pixels is a quarter of the cost); validation: PSNR of whole held-out images reconstructed from
    the posterior mean."""

    def __init__(self, vae: AutoencoderKL, *, lr: float, kl_weight: float, crop: int, input_range: str):
        super().__init__()
        self.vae = vae.train().requires_grad_(True)
        self.lr, self.kl_weight, self.crop, self.input_range = lr, kl_weight, crop, input_range
        self.psnr = PeakSignalNoiseRatio(data_range=1.0)

    def training_step(self, batch: dict, _: int) -> torch.Tensor:
        pixels = to_vae_range(random_crops(batch["image"], self.crop), self.input_range)
        posterior = self.vae.encode(pixels).latent_dist
        reconstruction = self.vae.decode(posterior.sample()).sample
        kl = posterior.kl().mean() / pixels[0].numel()
        loss = F.mse_loss(reconstruction.float(), pixels.float()) + self.kl_weight * kl
        logged = {"vae/train_loss": loss, "vae/train_kl": kl}
        self.log_dict(logged, on_step=False, on_epoch=True, batch_size=len(pixels), sync_dist=True)
        return loss

    def validation_step(self, batch: dict, _: int) -> None:
        pixels = to_vae_range(batch["image"], self.input_range)
        reconstruction = self.vae.decode(self.vae.encode(pixels).latent_dist.mean).sample
        self.psnr.update(from_vae_range(reconstruction.float(), self.input_range), batch["image"])

    def on_validation_epoch_end(self) -> None:
        self.log("vae/val_psnr", self.psnr.compute(), sync_dist=True)
        self.psnr.reset()

    def configure_optimizers(self):
        return torch.optim.Adam(self.vae.parameters(), lr=self.lr)


class LatentDiffusionModule(L.LightningModule):
    """DDPM's objective: MSE between the noise added to a posterior sample at a random timestep
    and the U-Net's prediction of it, under a fixed context (the prompts or one empty token).
    Validation draws its noise and timesteps from `seed`, so its loss compares across epochs. The
    context's keys and values are computed once per step, not once per image (the teacher's
    attention processor): with the 1,485 prompt tokens, 1.4x faster steps here."""

    def __init__(self, unet: UNet2DConditionModel, scheduler: DDPMScheduler, context: torch.Tensor, *,
                 lr: float, scaling_factor: float, seed: int):
        super().__init__()
        self.unet, self.scheduler = unet.train(), scheduler
        unet.set_attn_processor(SharedPromptAttnProcessor())  # the context is one for the whole batch
        self.register_buffer("context", context.float(), persistent=False)
        self.lr, self.scaling_factor, self.seed = lr, scaling_factor, seed

    def denoising_loss(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        mean = batch["mean"]

        def normal(shape) -> torch.Tensor:
            return torch.randn(shape, generator=generator).to(mean.device)

        latents = (mean + batch["std"] * normal(mean.shape)) * self.scaling_factor
        noise = normal(latents.shape)
        timesteps = torch.randint(self.scheduler.config.num_train_timesteps, (len(latents),),
                                  generator=generator).to(mean.device)
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        predicted = self.unet(noisy, timesteps, encoder_hidden_states=self.context).sample
        return F.mse_loss(predicted.float(), noise)

    def training_step(self, batch: dict, _: int) -> torch.Tensor:
        loss = self.denoising_loss(batch)
        self.log("unet/train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["mean"]), sync_dist=True)
        return loss

    def validation_step(self, batch: dict, index: int) -> None:
        loss = self.denoising_loss(batch, torch.Generator().manual_seed(self.seed + index))
        self.log("unet/val_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["mean"]), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.unet.parameters(), lr=self.lr)


def prior_images(params: PretrainPriorView) -> tuple[list[Path], list[Path]]:
    """Images to learn from and to hold out: the training split's (validation's held out), or a folder's."""
    config = params.pretrain_prior
    if config.source == "folder":
        return folder_images(config.folder, config.holdout_fraction, params.base.seed)
    key = params.base.dataset
    return split_images(params.data.manifest_path(key), params.split_file(), params.data.dataset_dir(key))


def _write_outputs(params: PretrainPriorView, vae: AutoencoderKL, unet: UNet2DConditionModel, scheduler: DDPMScheduler,
                   context: torch.Tensor, summary: dict, vae_curve: pd.DataFrame, unet_curve: pd.DataFrame,
                   tracker: StageTracker) -> None:
    """The prior folder, its samples, curves and metrics, in MLflow too; the run marked finished."""
    config, input_range = params.pretrain_prior, params.profile.teacher.vae_input_range
    grid = sample_images(vae, unet, scheduler.config, context, count=config.samples.count,
                         steps=config.samples.inference_steps, seed=config.samples.seed, input_range=input_range)
    save_image(grid, config.figures / "samples.png", nrow=int(len(grid) ** 0.5 + 0.5))
    vae_curve.to_csv(config.figures / "vae_curve.csv", index=False)
    unet_curve.to_csv(config.figures / "unet_curve.csv", index=False)
    draw_curves(vae_curve, unet_curve, config.figures / "curves.png")
    save_prior(config.out, vae, unet, scheduler, context, {**summary, "vae_input_range": input_range})
    config.metrics.write_text(dumps_json(summary, indent=2))
    tracker.log_metrics({key: value for key, value in summary.items() if key != "trained"})
    tracker.log_artifacts([config.figures])  # samples, curves
    for phase in ("vae", "unet"):
        mark_complete(params.train.checkpoints / "pretrain_prior" / phase)
    log.info("prior: held-out PSNR %.2f dB, denoising loss %.4f -> %s", summary["vae_val_psnr_db"],
             summary["unet_val_loss"], config.out)


def draw_curves(vae: pd.DataFrame, unet: pd.DataFrame, path: Path) -> Path:
    """Held-out reconstruction PSNR and denoising loss per epoch: the evidence that the prior learnt."""
    figure, (psnr_axis, loss_axis) = plt.subplots(1, 2, figsize=(9, 3.6))
    psnr_axis.plot(vae["epoch"], vae["val_psnr"], marker="o")
    psnr_axis.set(title="VAE: held-out reconstruction PSNR", xlabel="epoch", ylabel="dB")
    for column in ("train_loss", "val_loss"):
        loss_axis.plot(unet["epoch"], unet[column], marker="o", label=column.replace("_", " "))
    loss_axis.set(title="U-Net: denoising loss (noise MSE)", xlabel="epoch")
    loss_axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=FIGURE_DPI)
    plt.close(figure)
    return path


def image_set_digest(paths: list[Path]) -> str:
    """Names and sizes of the images: a resumed run must see the same set."""
    listing = "\n".join(f"{path}\t{path.stat().st_size}" for path in paths)
    return hashlib.sha256(listing.encode()).hexdigest()


def _context(params: PretrainPriorView, width: int) -> torch.Tensor:
    """The cross-attention context while pretraining: the teacher's prompt embeddings (what it will
    attend to at timestep 1), or one zero token (`empty`)."""
    if params.pretrain_prior.unet.conditioning == "empty":
        return torch.zeros(1, 1, width)
    teacher = params.profile.teacher
    return prompt_embeddings(teacher, params.models.prompt_cache, params.base.seed).float().unsqueeze(0)


def _fit(module: L.LightningModule, data: L.LightningDataModule, params: PretrainPriorView, phase: str,
         epochs: int, tracker: StageTracker, fingerprint: dict, monitor: str, mode: str, curve: dict):
    result = fit(module, data, train=params.train, progress_bar=params.runtime.progress_bar, epochs=epochs,
                 checkpoints=params.train.checkpoints / "pretrain_prior" / phase, fingerprint=fingerprint,
                 logger=tracker.lightning_logger(), seed=params.base.seed, profile=params.base.profile,
                 monitor=monitor, mode=mode, curve=curve)
    module.load_state_dict(read_state_dict(result.best_checkpoint))
    return result


def pretrain_prior(params: Params | PretrainPriorView, tracker: StageTracker) -> dict:
    """Train the VAE, then the U-Net; write the prior folder, its curves, samples and metrics."""
    params = PretrainPriorView.of(params)
    config, teacher = params.pretrain_prior, params.profile.teacher
    skipped = record_no_prior(params)
    if skipped is not None:
        return skipped
    train_paths, held_out_paths = prior_images(params)
    log.info("pretraining the prior on %d unlabelled images (%d held out)", len(train_paths), len(held_out_paths))
    images_sha256 = image_set_digest(train_paths + held_out_paths)
    fingerprint = {"images": images_sha256, "input": [params.profile.image_size, params.profile.resize],
                   **{name: section.model_dump(mode="json") for name, section in
                      (("base", params.base), ("train", params.train), ("pretrain_prior", config), ("teacher", teacher))}}
    size, resize, workers = params.profile.image_size, params.profile.resize, params.runtime.num_workers
    with torch.random.fork_rng():
        torch.manual_seed(params.base.seed)
        vae, unet = random_vae_unet(teacher)

    autoencoder = AutoencoderModule(vae, lr=config.vae.lr, kl_weight=config.vae.kl_weight, crop=config.vae.crop,
                                    input_range=teacher.vae_input_range)
    images = UnlabelledDataModule(UnlabelledImages(train_paths, size, resize),
                                  UnlabelledImages(held_out_paths, size, resize), config.vae.batch_size, workers)
    started = time.perf_counter()
    vae_result = _fit(autoencoder, images, params, "vae", config.vae.epochs, tracker, fingerprint,
                      "vae/val_psnr", "max", VAE_CURVE)
    log.info("VAE: held-out PSNR %.2f dB after %d epochs, %.0f s", vae_result.best_score, vae_result.epochs,
             time.perf_counter() - started)
    device = params.train.torch_device()
    vae = autoencoder.vae.eval().requires_grad_(False).to(device)

    def posterior(paths: list[Path]) -> LatentPosteriors:
        def encode(batch: torch.Tensor):
            distribution = vae.encode(to_vae_range(batch, teacher.vae_input_range)).latent_dist
            return distribution.mean, distribution.std

        with torch.no_grad():
            mean, std = run_over(encode, UnlabelledImages(paths, size, resize), batch_size=config.vae.batch_size,
                                 num_workers=workers, device=device)
        return LatentPosteriors(mean, std)

    train_latents, held_out_latents = posterior(train_paths), posterior(held_out_paths)
    generator = torch.Generator().manual_seed(params.base.seed)
    samples = train_latents.mean + train_latents.std * torch.randn(train_latents.mean.shape, generator=generator)
    scaling_factor = float(1 / samples.std())  # unit-variance latents, as SD's 0.18215 was chosen
    vae.register_to_config(scaling_factor=scaling_factor)
    vae.cpu()

    scheduler = DDPMScheduler(**config.noise_schedule)
    context = _context(params, unet.config.cross_attention_dim)
    diffusion = LatentDiffusionModule(unet, scheduler, context, lr=config.unet.lr, scaling_factor=scaling_factor,
                                      seed=params.base.seed)
    latents = UnlabelledDataModule(train_latents, held_out_latents, config.unet.batch_size, workers)
    unet_result = _fit(diffusion, latents, params, "unet", config.unet.epochs, tracker,
                       {**fingerprint, "scaling_factor": scaling_factor}, "unet/val_loss", "min", UNET_CURVE)
    unet = diffusion.unet.eval().cpu()
    log.info("U-Net: held-out denoising loss %.4f after %d epochs, %.0f s since the start", unet_result.best_score,
             unet_result.epochs, time.perf_counter() - started)

    summary = {"trained": True, "images": len(train_paths), "held_out": len(held_out_paths), "images_sha256": images_sha256,
               "vae_val_psnr_db": vae_result.best_score, "unet_val_loss": unet_result.best_score,
               "vae_epochs": vae_result.epochs, "unet_epochs": unet_result.epochs,
               "scaling_factor": scaling_factor, "conditioning": config.unet.conditioning}
    if is_rank_zero():  # a distributed run's other processes trained alongside; one writes
        _write_outputs(params, vae, unet, scheduler, context, summary, vae_result.history, unet_result.history, tracker)
    return summary

