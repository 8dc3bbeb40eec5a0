"""The DP-IQA teacher: quality read from one pass of Stable Diffusion's denoising U-Net.

Module names follow the authors' checkpoint keys (vae, unet, gamma, text_adapter, img_adapter,
QFD), so their released teacher loads with strict=True.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.models.adapter import FullAdapter
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from torch import nn

from dpiqa.models.filters import LocalContrast
from dpiqa.models.score_layer import mlp_input_width, mlp_score, zero_init_score_layer


class TextAdapter(nn.Module):
    """The MLP of E' = E + gamma * MLP(E); gamma lives on the teacher (checkpoint key `gamma`)."""

    def __init__(self, dim: int):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.fc(embeddings)


class SharedPromptAttnProcessor(AttnProcessor2_0):
    """Cross-attention to one prompt context shared by the whole batch.

    Every image attends to the same K prompt tokens, so their keys and values are projected once,
    not once per image, and the batch's queries attend to them in one call: the same result as
    diffusers' processor over a batch-expanded context, 1.3x faster per tiny teacher training step
    here. Self-attention and per-image contexts take diffusers' path unchanged.
    """

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        shared = encoder_hidden_states is not None and encoder_hidden_states.shape[0] == 1
        if not shared or hidden_states.ndim != 3 or attention_mask is not None:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        batch, tokens, channels = hidden_states.shape
        queries = hidden_states.reshape(1, batch * tokens, channels)
        return super().__call__(attn, queries, encoder_hidden_states, None, temb).reshape(batch, tokens, -1)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.fc(x.mean(dim=(2, 3)))
        return x * weights[:, :, None, None]


class QualityFeatureDecoder(nn.Module):
    """Fuses the U-Net's up-block features into the quality map F_quality and a score.

    Levels arrive finest first (conv1 takes the last up block's channels), are resized bicubically
    to the map size, projected and re-weighted (SE), concatenated, fused, and squeezed by 1x1
    convolutions to `map_channels`; an MLP reads the map into the score (`head`: the flattened map,
    as the authors, or each position's channels, averaged).
    """

    UNUSED = ("bnc1", "classifier_dist")  # in the authors' checkpoint, never used in forward

    def __init__(
        self,
        level_channels: list[int],
        map_size: int,
        hidden: int,
        se_reduction: int,
        score_channels: list[int],
        map_channels: int,
        mlp_hidden: int,
        head: str = "flatten",
    ):
        super().__init__()
        if len(level_channels) != 4:
            raise ValueError(f"level_channels: the QFD fuses 4 levels, got {len(level_channels)}")
        self.map_size, self.head = map_size, head
        for index, channels in enumerate(level_channels, start=1):
            self.add_module(f"conv{index}", nn.Conv2d(channels, hidden, 3, padding=1))
            self.add_module(f"se{index}", SqueezeExcitation(hidden, se_reduction))
        self.fuse_conv = nn.Conv2d(hidden * len(level_channels), hidden, 3, padding=1)
        self.se_fuse = SqueezeExcitation(hidden, se_reduction)
        widths = [hidden, *score_channels, map_channels]
        for index, (c_in, c_out) in enumerate(zip(widths, widths[1:]), start=1):
            self.add_module(f"conv_score{index}", nn.Conv2d(c_in, c_out, 1))
        self.score_layers = len(widths) - 1
        self.fc1 = nn.Linear(mlp_input_width(head, map_channels, map_size), mlp_hidden)
        self.fc2 = nn.Linear(mlp_hidden, mlp_hidden)
        self.fc3 = nn.Linear(mlp_hidden, 1)
        self.bnc1 = nn.BatchNorm2d(hidden)
        self.classifier_dist = nn.Linear(hidden, 24)
        for name in self.UNUSED:
            getattr(self, name).requires_grad_(False)
        self._initialise()

    def _initialise(self) -> None:
        """He initialisation: PyTorch's default shrinks the signal through this deep a stack,
        so a randomly initialised decoder gives every image the same score."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        zero_init_score_layer(self.fc3)

    def forward(self, levels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        size = (self.map_size, self.map_size)
        fused = []
        for index, level in enumerate(levels, start=1):
            if level.shape[-2:] != size:
                level = F.interpolate(level, size=size, mode="bicubic", align_corners=False)
            projected = getattr(self, f"conv{index}")(level)
            fused.append(getattr(self, f"se{index}")(projected))
        x = self.se_fuse(self.fuse_conv(torch.cat(fused, dim=1)))
        for index in range(1, self.score_layers + 1):
            x = F.relu(getattr(self, f"conv_score{index}")(x))
        return mlp_score(x, self.head, self.fc1, self.fc2, self.fc3), x


class HighPass(nn.Module):
    """The image minus its local mean (a `window`-pixel box, reflected at the border), times `gain`:
    the detail where blur, noise and compression show, at a scale a randomly initialised
    convolution picks up."""

    def __init__(self, window: int, gain: float):
        super().__init__()
        if window < 3 or window % 2 == 0:
            raise ValueError(f"the high-pass window must be odd and at least 3, got {window}")
        self.window, self.gain = window, gain

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        padded = F.pad(images, (self.window // 2,) * 4, mode="reflect")
        return (images - F.avg_pool2d(padded, self.window, stride=1)) * self.gain


class _UpBlocksDone(Exception):
    """Stops the U-Net after its last up block: conv_out's result would be thrown away."""


def adapter_input_module(adapter_input: dict) -> nn.Module:
    """What the image adapter reads: the image itself (`pixels`), its `highpass` detail or its
    locally contrast-normalised structure (`lcn`)."""
    if adapter_input["kind"] == "highpass":
        return HighPass(adapter_input["window"], adapter_input["gain"])
    if adapter_input["kind"] == "lcn":
        return LocalContrast(adapter_input["window"], adapter_input["eps"])
    if adapter_input["kind"] == "pixels":
        return nn.Identity()
    raise ValueError(f"the image adapter input must be pixels or highpass, got {adapter_input['kind']!r}")


def portable_config(config) -> dict:
    """A diffusers config without its private bookkeeping (`_use_default_values` is a list made from
    a set: its order changes from process to process, and with it a saved file's hash)."""
    return {key: value for key, value in config.items() if not key.startswith("_")}


class DPIQATeacher(nn.Module):
    """VAE encoder (frozen) -> U-Net at a fixed timestep, prompted and adapted -> QFD.

    `forward(images)` takes RGB in [0, 1] at the profile's size and returns (score, quality_map).
    `config` is every constructor setting as plain data (the U-Net's and VAE's diffusers configs
    included): `from_config` rebuilds the architecture from it, as diffusers' models do.
    """

    def __init__(
        self,
        vae: AutoencoderKL,
        unet: UNet2DConditionModel,
        prompt_embeddings: torch.Tensor,
        *,
        image_size: int,
        timestep: int,
        vae_input_range: str,
        latent: str,
        gamma_init: float,
        adapter_res_blocks: int,
        qfd: dict,
        adapter_input: dict,
    ):
        super().__init__()
        if vae_input_range not in ("unit", "symmetric"):
            raise ValueError(f"vae_input_range must be 'unit' or 'symmetric', got {vae_input_range!r}")
        if latent not in ("mean", "sample"):
            raise ValueError(f"latent must be 'mean' or 'sample', got {latent!r}")
        context_dim = unet.config.cross_attention_dim
        if prompt_embeddings.ndim != 2 or prompt_embeddings.shape[1] != context_dim:
            raise ValueError(
                f"prompt_embeddings must be (K, {context_dim}) to match the U-Net's "
                f"cross_attention_dim, got {tuple(prompt_embeddings.shape)}"
            )
        self.timestep = timestep
        self.vae_input_range = vae_input_range
        self.latent = latent
        self.vae = vae.requires_grad_(False).eval()
        self.unet = unet
        unet.set_attn_processor(SharedPromptAttnProcessor())
        for head in (unet.conv_norm_out, unet.conv_out):  # never run (see _UpBlocksDone): frozen
            if head is not None:
                head.requires_grad_(False)
        self.gamma = nn.Parameter(torch.full((context_dim,), gamma_init))
        self.text_adapter = TextAdapter(context_dim)
        channels = list(unet.config.block_out_channels)
        self.vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
        if image_size % (self.vae_scale * 2 ** (len(channels) - 1)):
            raise ValueError(
                f"image_size {image_size} must be a multiple of "
                f"{self.vae_scale * 2 ** (len(channels) - 1)} (VAE x U-Net downsampling)"
            )
        self.adapter_input = adapter_input_module(adapter_input)  # no weights: checkpoints load as before
        self.img_adapter = FullAdapter(
            in_channels=3,
            channels=channels,
            num_res_blocks=adapter_res_blocks,
            downscale_factor=self.vae_scale,
        )
        self.register_buffer("prompt_embeddings", prompt_embeddings.float(), persistent=False)
        up_channels = [block.resnets[-1].out_channels for block in unet.up_blocks]
        self.image_size = image_size
        self.map_size = image_size // self.vae_scale
        self.QFD = QualityFeatureDecoder(level_channels=up_channels[::-1], map_size=self.map_size, **qfd)
        self._up_features: list[torch.Tensor] = []
        for block in unet.up_blocks:
            block.register_forward_hook(self._keep_up_block_output)
        self.config = {
            "image_size": image_size, "timestep": timestep, "vae_input_range": vae_input_range, "latent": latent,
            "gamma_init": gamma_init, "adapter_res_blocks": adapter_res_blocks, "qfd": dict(qfd),
            "adapter_input": dict(adapter_input),
            "unet": portable_config(unet.config), "vae": portable_config(vae.config),
        }

    @classmethod
    def from_config(cls, config: dict, prompt_embeddings: torch.Tensor) -> DPIQATeacher:
        """The architecture `config` describes, with random weights (load a state dict into it)."""
        settings = dict(config)
        vae = AutoencoderKL.from_config(settings.pop("vae"))
        unet = UNet2DConditionModel.from_config(settings.pop("unet"))
        return cls(vae, unet, prompt_embeddings, **settings)

    def _keep_up_block_output(self, module, inputs, output) -> None:
        self._up_features.append(output)
        if module is self.unet.up_blocks[-1]:
            raise _UpBlocksDone

    def train(self, mode: bool = True) -> DPIQATeacher:
        super().train(mode)
        self.vae.eval()  # frozen, whatever the mode
        return self

    @torch.no_grad()
    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of the frozen VAE's latent distribution: all a latent cache needs."""
        pixels = images * 2 - 1 if self.vae_input_range == "symmetric" else images
        distribution = self.vae.encode(pixels).latent_dist
        return distribution.mean, distribution.std

    def latents(self, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """The U-Net's input, times the VAE's scaling factor: the posterior mean, or with `latent:
        sample` a sample of it while training (the authors'); scoring always reads the mean, so an
        image's score is the same every time."""
        sampled = self.latent == "sample" and self.training
        latents = mean + std * torch.randn_like(mean) if sampled else mean
        return latents * self.vae.config.scaling_factor

    def prompt_context(self) -> torch.Tensor:
        """E' = E + gamma * MLP(E): one cross-attention token per prompt, (1, K, d) for the whole batch."""
        embeddings = self.prompt_embeddings
        return (embeddings + self.gamma * self.text_adapter(embeddings)).unsqueeze(0)

    def up_block_features(self, latents: torch.Tensor, images: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of the U-Net's up blocks, coarsest first."""
        residuals = self.img_adapter(self.adapter_input(images))
        timestep = torch.full((latents.shape[0],), self.timestep, device=latents.device)
        self._up_features = []
        try:
            self.unet(
                latents,
                timestep,
                encoder_hidden_states=self.prompt_context(),
                down_intrablock_additional_residuals=list(residuals),  # the U-Net pops from it
            )
        except _UpBlocksDone:
            pass
        features, self._up_features = self._up_features, []
        return features

    def forward(
        self, images: torch.Tensor, posterior: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Score and quality map; `posterior` (mean, std) from a latent cache skips the VAE."""
        mean, std = self.posterior(images) if posterior is None else posterior
        return self.QFD(self.up_block_features(self.latents(mean, std), images)[::-1])
