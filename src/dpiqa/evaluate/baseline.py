"""CNNIQA (Kang et al., CVPR 2014): a small patch-based baseline for DP-IQA to beat.

Trained from scratch on grayscale, locally contrast-normalised 32x32 patches, each labelled with its
image's MOS; an image's score is the mean over its patches. Training runs for a wall-clock budget
rather than a number of epochs, so that baselines are compared at equal compute.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import stats
from torch import nn

from dpiqa.errors import DPIQAError
from dpiqa.models.filters import local_contrast_normalise


@dataclass(frozen=True)
class CNNIQAConfig:
    """Kang's architecture; optimiser settings as in the common PyTorch re-implementation (lidq92/CNNIQA).

    Kang normalises with P = Q = 3 (a 7x7 window) and C = 1 on 0-255 values: 1/255 on [0, 1].
    """

    patch_size: int = 32
    kernel_size: int = 7
    filters: int = 50
    hidden: int = 800
    dropout: float = 0.5
    learning_rate: float = 1e-3
    batch_size: int = 128  # patches per step
    lcn_kernel: int = 7
    lcn_eps: float = 1 / 255
    validate_every: int = 200  # steps
    test_patches: int = 64  # most non-overlapping patches scored per image
    max_steps: int | None = None  # a step cap makes a run exactly reproducible, which a time budget alone does not


class CNNIQA(nn.Module):
    """One convolution, then the max and min of each filter's response over the patch: Kang's pooling,
    which sees whether a distortion pattern occurs anywhere in the patch, not where."""

    def __init__(self, config: CNNIQAConfig = CNNIQAConfig()) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, config.filters, config.kernel_size)
        self.head = nn.Sequential(
            nn.Linear(2 * config.filters, config.hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, 1),
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        responses = self.conv(patches)
        pooled = torch.cat([responses.amax(dim=(2, 3)), responses.amin(dim=(2, 3))], dim=1)
        return self.head(pooled).squeeze(1)


def _lcn_map(path: Path, config: CNNIQAConfig, image_size: int | None) -> torch.Tensor:
    """(H, W) LCN map of an image, its shorter side resized to image_size when given."""
    with Image.open(path) as opened:
        image = opened.convert("L")
    if image_size is not None:
        scale = image_size / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
    if min(image.size) < config.patch_size:
        raise DPIQAError(f"{path} is {image.width}x{image.height}, smaller than a {config.patch_size}px patch")
    gray = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255)
    return local_contrast_normalise(gray[None, None], config.lcn_kernel, config.lcn_eps)[0, 0]


def _grid_patches(lcn: torch.Tensor, config: CNNIQAConfig) -> torch.Tensor:
    """Kang's non-overlapping test patches from a centred grid, thinned evenly to at most test_patches."""
    size = config.patch_size
    rows, columns = lcn.shape[0] // size, lcn.shape[1] // size
    top, left = (lcn.shape[0] - rows * size) // 2, (lcn.shape[1] - columns * size) // 2
    grid = lcn[top : top + rows * size, left : left + columns * size].unfold(0, size, size).unfold(1, size, size)
    patches = grid.reshape(-1, 1, size, size)
    if len(patches) > config.test_patches:
        patches = patches[np.linspace(0, len(patches) - 1, config.test_patches).round().astype(int)]
    return patches


@torch.inference_mode()
def _score(model: CNNIQA, lcn: torch.Tensor, config: CNNIQAConfig) -> float:
    model.eval()
    return model(_grid_patches(lcn, config)).mean().item()


def _random_patches(maps: list[torch.Tensor], chosen: np.ndarray, rng: np.random.Generator, size: int) -> torch.Tensor:
    heights = np.array([maps[i].shape[0] for i in chosen])
    widths = np.array([maps[i].shape[1] for i in chosen])
    tops, lefts = rng.integers(heights - size + 1), rng.integers(widths - size + 1)
    return torch.stack(
        [maps[i][top : top + size, left : left + size] for i, top, left in zip(chosen, tops, lefts)]
    ).unsqueeze(1)


def _srcc(prediction: np.ndarray, mos: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        srcc = stats.spearmanr(prediction, mos).statistic
    return 0.0 if np.isnan(srcc) else float(srcc)  # constant scores rank nothing: no better than chance


def train_cnniqa(
    train_images: list[Path],
    train_mos: np.ndarray,
    val_images: list[Path],
    val_mos: np.ndarray,
    *,
    config: CNNIQAConfig = CNNIQAConfig(),
    time_budget_s: float,
    seed: int,
    image_size: int | None = None,
) -> tuple[CNNIQA, dict]:
    """The model with the best validation SRCC seen within time_budget_s of training.

    Images are decoded and normalised once up front, outside the budget, so that the budget buys
    steps, not JPEG decoding. `epochs` counts patches seen in units of the training set's
    non-overlapping patches, the unit of one of Kang's epochs.
    """
    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_maps = [_lcn_map(path, config, image_size) for path in train_images]
    val_maps = [_lcn_map(path, config, image_size) for path in val_images]
    targets = torch.as_tensor(np.asarray(train_mos), dtype=torch.float32)
    val_mos = np.asarray(val_mos, dtype=float)

    model = CNNIQA(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    best = {"srcc": -np.inf, "step": 0, "state": None}

    def validate(step: int) -> None:
        srcc = _srcc(np.array([_score(model, lcn, config) for lcn in val_maps]), val_mos)
        if srcc > best["srcc"]:
            state = {name: value.detach().clone() for name, value in model.state_dict().items()}
            best.update(srcc=srcc, step=step, state=state)

    step = 0
    training_started = time.perf_counter()
    while time.perf_counter() - training_started < time_budget_s and (
        config.max_steps is None or step < config.max_steps
    ):
        model.train()
        chosen = rng.integers(len(train_maps), size=config.batch_size)
        loss = F.l1_loss(model(_random_patches(train_maps, chosen, rng, config.patch_size)), targets[chosen])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        if step % config.validate_every == 0:
            validate(step)
    if best["state"] is None or step % config.validate_every:
        validate(step)  # the last steps, or the untrained model when the budget allowed no step at all

    model.load_state_dict(best["state"])
    model.eval()
    epoch_patches = sum((h // config.patch_size) * (w // config.patch_size) for h, w in (m.shape for m in train_maps))
    return model, {
        "steps": step,
        "epochs": step * config.batch_size / epoch_patches,
        "best_step": best["step"],
        "best_val_srcc": best["srcc"],
        "wall_s": time.perf_counter() - started,
    }


def predict_cnniqa(
    model: CNNIQA, images: list[Path], config: CNNIQAConfig = CNNIQAConfig(), *, image_size: int | None = None
) -> np.ndarray:
    """One score per image on the MOS scale; image_size must match the one the model was trained at."""
    return np.array([_score(model, _lcn_map(path, config, image_size), config) for path in images])
