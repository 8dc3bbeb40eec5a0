"""The DP-IQA student: a torchvision CNN (EfficientNet as the paper; MobileNetV3 in the tiny
profile) whose quality map mimics the teacher's.

Names follow the authors' checkpoint keys (base_model.features.*, conv_transpose, fc1..fc3).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.error import URLError

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import get_model, get_model_weights

from dpiqa.errors import DPIQAError
from dpiqa.models.filters import LocalContrast
from dpiqa.models.score_layer import mlp_input_width, mlp_score, zero_init_score_layer

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# (mean, std) the model subtracts and divides by: the authors' student reads raw [0, 1] pixels
INPUT_NORMALISATIONS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))}
# or each channel's local contrast normalisation (`lcn`, its window and eps in `lcn`; with
# `lcn.with_pixels` beside the ImageNet-normalised pixels)
LOCAL_CONTRAST = "lcn"


def widen_first_convolution(features: nn.Module, extra_channels: int) -> None:
    """Give the backbone's first convolution `extra_channels` more input channels, in front of the
    RGB ones: those keep their weights (ImageNet's or torchvision's random start), the new ones start
    as torchvision initialises its CNNs (Kaiming normal, fan out)."""
    parent, name, conv = next((module, name, child) for module in features.modules()
                              for name, child in module.named_children() if isinstance(child, nn.Conv2d))
    wider = nn.Conv2d(conv.in_channels + extra_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, conv.bias is not None)
    with torch.no_grad():
        nn.init.kaiming_normal_(wider.weight, mode="fan_out")
        wider.weight[:, extra_channels:] = conv.weight
        if conv.bias is not None:
            wider.bias.copy_(conv.bias)
    setattr(parent, name, wider)


def torchvision_backbone(backbone: str, imagenet_weights: bool) -> tuple[nn.Module, str]:
    """The torchvision model and where its weights came from, for the logs.

    ImageNet weights come from the torch hub cache, or are downloaded unless HF_HUB_OFFLINE=1
    (the project's offline switch). Asked for and unavailable, they are an error naming the file
    and how to provide it: never a silent random start trained as if it were the paper's.
    """
    if not imagenet_weights:
        return get_model(backbone, weights=None), "random initialisation (imagenet_weights: false)"
    weights = get_model_weights(backbone).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.exists() and os.environ.get("HF_HUB_OFFLINE") == "1":
        reason = f"{cached} is missing and HF_HUB_OFFLINE=1 forbids downloading it"
    else:
        try:
            return get_model(backbone, weights=weights), f"ImageNet weights {weights}"
        except (OSError, URLError, RuntimeError) as error:
            reason = f"{weights.url} could not be fetched into {cached} ({error})"
    raise DPIQAError(
        f"the {backbone} student asks for ImageNet weights (models.profiles.<profile>.student.imagenet_weights) but "
        f"{reason}. Download {weights.url} on a machine with internet and put it at {cached} (TORCH_HOME moves "
        "the folder), run once with HF_HUB_OFFLINE=0, or set imagenet_weights: false to train from random weights.")


class DPIQAStudent(nn.Module):
    """CNN features -> ConvTranspose -> ReLU -> nearest upsample -> MLP (`head` as the teacher's) -> score.

    `forward(images)` takes RGB in [0, 1] and returns (score, quality_map), the map shaped like
    the teacher's (map_channels x map_size x map_size). `config` is every constructor setting
    but `imagenet_weights` (how it started, not what it is): `from_config` rebuilds it.
    """

    def __init__(
        self,
        backbone: str,
        *,
        map_size: int,
        map_channels: int,
        mlp_hidden: int,
        input_normalisation: str = "imagenet",
        imagenet_weights: bool = False,
        head: str = "flatten",
        lcn: dict | None = None,
    ):
        super().__init__()
        base_model, origin = torchvision_backbone(backbone, imagenet_weights)
        log.info("student %s backbone: %s", backbone, origin)
        base_model.classifier = nn.Identity()  # only the features are used (and saved)
        self.base_model = base_model
        convolutions = [m for m in base_model.features.modules() if isinstance(m, nn.Conv2d)]
        self.conv_transpose = nn.ConvTranspose2d(
            convolutions[-1].out_channels, map_channels, kernel_size=3, stride=2, padding=1, output_padding=1
        )
        self.map_size, self.head = map_size, head
        self.fc1 = nn.Linear(mlp_input_width(head, map_channels, map_size), mlp_hidden)
        self.fc2 = nn.Linear(mlp_hidden, mlp_hidden)
        self.fc3 = nn.Linear(mlp_hidden, 1)
        for layer in (self.conv_transpose, self.fc1, self.fc2):  # as the teacher's QFD
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
        zero_init_score_layer(self.fc3)
        self.local_contrast, self.with_pixels = None, False
        if input_normalisation == LOCAL_CONTRAST:
            if lcn is None:
                raise ValueError("input_normalisation lcn needs its lcn settings (window, eps)")
            self.local_contrast = LocalContrast(lcn["window"], lcn["eps"])
            self.with_pixels = lcn.get("with_pixels", False)  # checkpoints from before it read LCN only
            if self.with_pixels:
                widen_first_convolution(self.base_model.features, extra_channels=3)
        elif input_normalisation not in INPUT_NORMALISATIONS:
            raise ValueError(f"input_normalisation must be one of {sorted([*INPUT_NORMALISATIONS, LOCAL_CONTRAST])}, "
                             f"got {input_normalisation!r}")
        mean, std = INPUT_NORMALISATIONS.get("imagenet" if self.with_pixels else input_normalisation,
                                             INPUT_NORMALISATIONS["none"])
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.config = {"backbone": backbone, "map_size": map_size, "map_channels": map_channels, "mlp_hidden": mlp_hidden,
                       "input_normalisation": input_normalisation, "head": head}
        if self.local_contrast is not None:
            self.config["lcn"] = dict(lcn)

    @classmethod
    def from_config(cls, config: dict) -> DPIQAStudent:
        """The architecture `config` describes, with random weights (load a state dict into it)."""
        return cls(**config)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.local_contrast is None:
            inputs = (images - self.mean) / self.std
        elif self.with_pixels:
            inputs = torch.cat([self.local_contrast(images), (images - self.mean) / self.std], dim=1)
        else:
            inputs = self.local_contrast(images)
        features = self.base_model.features(inputs)
        quality_map = F.relu(self.conv_transpose(features))
        quality_map = F.interpolate(quality_map, size=(self.map_size, self.map_size), mode="nearest")
        return mlp_score(quality_map, self.head, self.fc1, self.fc2, self.fc3), quality_map
