"""The MLP that turns a quality map into a score, shared by teacher and student: how it reads the
map (`head`) and how its last layer starts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Every manifest scores on [0, 1] (dpiqa.data.manifest.normalise_mos): predictions start mid-scale.
SCORE_MIDPOINT = 0.5
# flatten: the authors' MLP on the whole flattened map, a weight per map position | local: the same
# MLP scores each position's map vector and the image's score is their mean. Trained from scratch on
# a few thousand images, a weight per position learns where content sits as much as what quality is.
SCORE_HEADS = ("flatten", "local")


def mlp_input_width(head: str, map_channels: int, map_size: int) -> int:
    """fc1's input: the flattened map, or one position's channels."""
    if head not in SCORE_HEADS:
        raise ValueError(f"the score head must be one of {SCORE_HEADS}, got {head!r}")
    return map_channels * map_size * map_size if head == "flatten" else map_channels


def mlp_score(quality_map: torch.Tensor, head: str, fc1: nn.Linear, fc2: nn.Linear, fc3: nn.Linear) -> torch.Tensor:
    """Scores (N,) from quality maps (N, C, H, W) through fc1 -> ReLU -> fc2 -> ReLU -> fc3."""
    features = quality_map.flatten(1) if head == "flatten" else quality_map.permute(0, 2, 3, 1)
    scores = fc3(F.relu(fc2(F.relu(fc1(features))))).squeeze(-1)
    return scores if head == "flatten" else scores.mean(dim=(1, 2))


def zero_init_score_layer(layer: nn.Linear) -> None:
    """Start every prediction at the scale's midpoint. A He-initialised last layer gives a random
    network scores of +-10 on a [0, 1] scale, and a zero bias needs hundreds of Adam steps
    (about lr each) to climb to the scores' level: both spend the short CPU budget on an offset."""
    nn.init.zeros_(layer.weight)
    nn.init.constant_(layer.bias, SCORE_MIDPOINT)
