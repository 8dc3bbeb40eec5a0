"""The diffusion prior as a folder in Stable Diffusion's layout (`vae/`, `unet/`, `scheduler/`),
so the teacher loads it with the code that loads SD v1.5 from a local directory, and sampling
from it (DDIM)."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from safetensors.torch import load_file, save_file

from dpiqa.errors import DPIQAError
from dpiqa.models.prior_record import PRIOR_INFO, prior_info
from dpiqa.models.teacher import SharedPromptAttnProcessor
from dpiqa.strict_json import dumps_json

CONTEXT = "context.safetensors"  # the cross-attention context it was trained (and samples) with


def save_prior(folder: Path, vae: AutoencoderKL, unet: UNet2DConditionModel, scheduler: DDPMScheduler,
               context: torch.Tensor, info: dict) -> None:
    folder = Path(folder)
    vae.save_pretrained(folder / "vae")
    unet.save_pretrained(folder / "unet")
    scheduler.save_pretrained(folder / "scheduler")
    save_file({"context": context.contiguous()}, folder / CONTEXT)
    (folder / PRIOR_INFO).write_text(dumps_json({"trained": True, **info}, indent=2))


def load_prior(folder: Path) -> tuple[AutoencoderKL, UNet2DConditionModel, dict, torch.Tensor, dict]:
    """VAE, U-Net, noise schedule, context and training record of a saved prior, for sampling."""
    folder = Path(folder)
    if not prior_info(folder).get("trained"):
        raise DPIQAError(f"{folder} holds no trained prior: {prior_info(folder).get('reason', 'no prior.json')}")
    vae = AutoencoderKL.from_pretrained(folder / "vae").eval()
    unet = UNet2DConditionModel.from_pretrained(folder / "unet").eval()
    schedule = DDPMScheduler.load_config(folder / "scheduler")
    return vae, unet, schedule, load_file(folder / CONTEXT)["context"], prior_info(folder)


def to_vae_range(images: torch.Tensor, input_range: str) -> torch.Tensor:
    """Images in [0, 1] as the VAE reads them (the teacher's `vae_input_range`)."""
    return images * 2 - 1 if input_range == "symmetric" else images


def from_vae_range(pixels: torch.Tensor, input_range: str) -> torch.Tensor:
    return ((pixels + 1) / 2 if input_range == "symmetric" else pixels).clamp(0, 1)


@torch.no_grad()
def sample_images(vae: AutoencoderKL, unet: UNet2DConditionModel, schedule: dict, context: torch.Tensor, *,
                  count: int, steps: int, seed: int, input_range: str) -> torch.Tensor:
    """`count` images in [0, 1] drawn from the prior with DDIM in `steps` steps from seeded noise
    (the same images every time for a given prior and seed)."""
    unet.set_attn_processor(SharedPromptAttnProcessor())  # one (1, tokens, width) context for the batch
    scheduler = DDIMScheduler.from_config(schedule)
    scheduler.set_timesteps(steps)
    device = next(unet.parameters()).device
    side = unet.config.sample_size
    noise = torch.randn((count, unet.config.in_channels, side, side), generator=torch.Generator().manual_seed(seed))
    latents = noise.to(device) * scheduler.init_noise_sigma
    for timestep in scheduler.timesteps:
        predicted = unet(scheduler.scale_model_input(latents, timestep), timestep,
                         encoder_hidden_states=context.to(device)).sample
        latents = scheduler.step(predicted, timestep, latents).prev_sample
    pixels = vae.decode(latents / vae.config.scaling_factor).sample
    return from_vae_range(pixels, input_range).float().cpu()
