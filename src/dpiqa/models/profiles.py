"""Build the teacher and student for a profile: `sd15` (pretrained, paper scale) or `tiny`.

`sd15` never falls back to random weights: when a component is neither in a local directory
nor in the Hugging Face cache and the hub is off or unreachable, it fails at once, naming what
is missing and how to provide it. `tiny` builds the very same classes with small configs and a
seeded random initialisation.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import huggingface_hub
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModelWithProjection, CLIPTokenizer

from dpiqa.config import Profile, TeacherConfig
from dpiqa.errors import DPIQAError
from dpiqa.models.prompts import (
    PromptCacheKey,
    build_offline_tokenizer,
    build_prompts,
    cached_prompt_embeddings,
    embed_prompts,
    tiny_text_encoder,
)
from dpiqa.models.student import DPIQAStudent
from dpiqa.models.teacher import DPIQATeacher

log = logging.getLogger(__name__)

SD_FILES = {
    "unet": ["unet/config.json", "unet/diffusion_pytorch_model.safetensors"],
    "vae": ["vae/config.json", "vae/diffusion_pytorch_model.safetensors"],
}
CLIP_FILES = ["config.json", "model.safetensors", "vocab.json", "merges.txt"]
# The architecture Stable Diffusion v1.5 ships (its unet/ and vae/ config.json): builds a pretrained
# profile's teacher without weights (meta device, structure tests, benchmarks). Loading weights
# always takes the checkpoint's own config.
SD15_ARCHITECTURE = {
    "unet": {"sample_size": 64, "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
             "cross_attention_dim": 768, "attention_head_dim": 8, "norm_num_groups": 32},
    "vae": {"sample_size": 512, "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2,
            "latent_channels": 4, "norm_num_groups": 32},
}
# A real CLIP tokenizer has 49,408 tokens; from_pretrained with nothing cached can return 2.
MIN_CLIP_VOCABULARY = 49_000


class WeightsNotFoundError(DPIQAError, FileNotFoundError):
    """Pretrained weights that are neither cached nor downloadable here; says how to provide them."""


def _missing_files(source: str, files: list[str]) -> list[str]:
    """Files of a local directory or hub repo that are not on this machine."""
    if Path(source).is_dir():
        return [f for f in files if not (Path(source) / f).is_file()]
    return [f for f in files if not isinstance(huggingface_hub.try_to_load_from_cache(source, f), str)]


def require_weights(source: str, files: list[str], what: str, param: str) -> None:
    """Fail fast, before loading anything, when weights cannot be had."""
    missing = _missing_files(source, files)
    local = Path(source).is_dir()
    if not missing or (not local and not huggingface_hub.constants.HF_HUB_OFFLINE):
        return
    where = f"the local directory {source}" if local else f"the Hugging Face cache (hub id {source!r})"
    raise WeightsNotFoundError(
        f"{what} weights are missing from {where}: {', '.join(missing)}.\n"
        f"Provide them in one of these ways:\n"
        f"  - allow hub downloads: unset HF_HUB_OFFLINE (or `make run HF_HUB_OFFLINE=0`) on a "
        f"machine with internet access;\n"
        f"  - or fetch them elsewhere (`hf download {source}`) and copy the Hugging Face cache here;\n"
        f"  - or set {param} in params.yaml to a local directory holding {', '.join(files)}.\n"
        f"The pipeline never substitutes random weights for pretrained ones."
    )


def _from_pretrained(loader, source: str, what: str, **kwargs):
    try:
        return loader.from_pretrained(source, **kwargs)
    except OSError as error:
        raise WeightsNotFoundError(f"{what} could not be loaded from {source!r}: {error}") from error


def architecture(teacher: TeacherConfig) -> dict[str, dict]:
    """The teacher's unet and vae configs: its own, or SD v1.5's for a pretrained teacher."""
    if teacher.pretrained:
        return SD15_ARCHITECTURE
    return {"unet": teacher.unet, "vae": teacher.vae}


def random_vae_unet(teacher: TeacherConfig) -> tuple[AutoencoderKL, UNet2DConditionModel]:
    """The teacher's VAE and U-Net with random weights (the tiny profile's start; an import's frame)."""
    configs = architecture(teacher)
    blocks = len(configs["vae"]["block_out_channels"])
    vae = AutoencoderKL(
        **configs["vae"],
        down_block_types=["DownEncoderBlock2D"] * blocks,
        up_block_types=["UpDecoderBlock2D"] * blocks,
    )
    latent = vae.config.latent_channels  # the U-Net denoises the VAE's latents: same channels
    return vae, UNet2DConditionModel(**configs["unet"], in_channels=latent, out_channels=latent)


def load_vae_unet(source: str, what: str) -> tuple[AutoencoderKL, UNet2DConditionModel]:
    """The VAE and U-Net of a diffusers folder or hub repo in Stable Diffusion's layout: SD v1.5
    itself, or a prior the pretrain_prior stage trained (one loading path for both)."""
    vae = _from_pretrained(AutoencoderKL, source, f"the {what} VAE", subfolder="vae")
    unet = _from_pretrained(UNet2DConditionModel, source, f"the {what} U-Net", subfolder="unet")
    return vae, unet


def _clip(source: str) -> tuple[CLIPTokenizer, CLIPTextModelWithProjection]:
    require_weights(source, CLIP_FILES, "CLIP text encoder", "models.profiles.sd15.teacher.text_encoder")
    tokenizer = _from_pretrained(CLIPTokenizer, source, "the CLIP tokenizer")
    if len(tokenizer) < MIN_CLIP_VOCABULARY:
        raise WeightsNotFoundError(
            f"the CLIP tokenizer from {source!r} has {len(tokenizer)} tokens instead of about "
            f"49,408: its vocab.json/merges.txt were not found. Provide them as for the weights."
        )
    model = _from_pretrained(CLIPTextModelWithProjection, source, "the CLIP text encoder")
    return tokenizer, model.eval()


def prompt_embeddings(teacher: TeacherConfig, cache_dir: Path, seed: int) -> torch.Tensor:
    """The (K, d) prompt embeddings, computed once per encoder, prompt list and pooling."""
    prompts = build_prompts()
    if teacher.text_encoder is None:
        encoder = f"tiny-clip {json.dumps(teacher.clip, sort_keys=True)} seed {seed}"

        def compute() -> torch.Tensor:
            tokenizer = build_offline_tokenizer(prompts)
            return embed_prompts(prompts, tokenizer, tiny_text_encoder(tokenizer, teacher.clip, seed), teacher.prompt_pooling)
    else:
        encoder = teacher.text_encoder

        def compute() -> torch.Tensor:
            tokenizer, model = _clip(teacher.text_encoder)
            return embed_prompts(prompts, tokenizer, model, teacher.prompt_pooling)

    key = PromptCacheKey(encoder, tuple(prompts), teacher.prompt_pooling)
    return cached_prompt_embeddings(key, cache_dir, compute)


def assemble_teacher(profile: Profile, vae, unet, embeddings: torch.Tensor) -> DPIQATeacher:
    teacher = profile.teacher
    return DPIQATeacher(
        vae,
        unet,
        embeddings,
        image_size=profile.image_size,
        timestep=teacher.timestep,
        vae_input_range=teacher.vae_input_range,
        latent=teacher.latent,
        gamma_init=teacher.text_adapter_gamma_init,
        adapter_res_blocks=teacher.adapter_res_blocks,
        adapter_input=teacher.image_adapter_input.model_dump(exclude_none=True),
        qfd=teacher.qfd.model_dump(),
    )


def _require_prior(folder: Path | None) -> Path:
    missing = [] if folder is None else [f for files in SD_FILES.values() for f in files if not (Path(folder) / f).is_file()]
    if folder is None or missing:
        where = f"the diffusion prior in {folder} lacks {', '.join(missing)}" if folder else "no prior folder was given"
        raise WeightsNotFoundError(f"teacher.prior is set but {where}: run `dvc repro pretrain_prior`, or set the "
                                   f"profile's teacher.prior to false (random initialisation)")
    return Path(folder)


def build_teacher(profile: Profile, prompt_cache: Path, seed: int, prior: Path | None = None) -> DPIQATeacher:
    """The teacher with pretrained SD weights (`pretrained` set), the VAE and U-Net of a diffusion
    prior (`teacher.prior`: the pretrain_prior stage's folder, `prior`), or seeded random ones."""
    embeddings = prompt_embeddings(profile.teacher, prompt_cache, seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if profile.teacher.pretrained:
            for part, files in SD_FILES.items():
                require_weights(profile.teacher.pretrained, files, f"Stable Diffusion ({part})",
                                "models.profiles.sd15.teacher.pretrained")
            vae, unet = load_vae_unet(profile.teacher.pretrained, "Stable Diffusion")
        elif profile.teacher.prior:
            vae, unet = load_vae_unet(str(_require_prior(prior)), "diffusion prior")
        else:
            vae, unet = random_vae_unet(profile.teacher)
        return assemble_teacher(profile, vae, unet, embeddings)


def build_teacher_architecture(profile: Profile, device: str = "meta") -> DPIQATeacher:
    """The teacher's architecture with random weights and random prompt embeddings.

    For structure checks (on the meta device: no memory, no downloads) and latency benchmarks
    only; nothing trained or scored should start from it.
    """
    with torch.device(device):
        vae, unet = random_vae_unet(profile.teacher)
        embeddings = torch.randn(len(build_prompts()), unet.config.cross_attention_dim)
        return assemble_teacher(profile, vae, unet, embeddings)


def student_map_size(profile: Profile) -> int:
    """The teacher's quality-map side: the input side over the VAE's downsampling."""
    return profile.image_size // 2 ** (len(architecture(profile.teacher)["vae"]["block_out_channels"]) - 1)


def build_student(profile: Profile, seed: int, *, imagenet_weights: bool | None = None) -> DPIQAStudent:
    config = profile.student
    use_imagenet = config.imagenet_weights if imagenet_weights is None else imagenet_weights
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return DPIQAStudent(
            config.backbone,
            map_size=student_map_size(profile),
            map_channels=profile.teacher.qfd.map_channels,
            mlp_hidden=config.mlp_hidden,
            input_normalisation=config.input_normalisation,
            imagenet_weights=use_imagenet,
            head=config.head,
            lcn=config.lcn.model_dump() if config.lcn else None,
        )
