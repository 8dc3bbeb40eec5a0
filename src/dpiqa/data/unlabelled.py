"""Images without labels: what the diffusion prior learns from (no CSV, no scores read)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dpiqa.data.images import model_input, to_rgb
from dpiqa.data.loading import split_table
from dpiqa.errors import DPIQAError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class UnlabelledImages(Dataset):
    """Image files as model inputs (RGB in [0, 1], the profile's size and resize filter)."""

    def __init__(self, paths: list[Path], image_size: int, resize: str):
        self.paths, self.image_size, self.resize = list(paths), image_size, resize

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        pixels = model_input(to_rgb(self.paths[index]), self.image_size, self.resize)
        return {"image": torch.from_numpy(pixels)}


def folder_images(folder: Path, holdout_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """Every *.jpg / *.png under `folder`, split at random into training and held-out images."""
    if not Path(folder).is_dir():
        raise DPIQAError(f"pretrain_prior.images: {folder} is not a folder; point it at a folder of "
                         f"*.jpg / *.png images, or set it to null to use the training split's images")
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    held = round(len(paths) * holdout_fraction)
    if len(paths) - held < 1 or held < 1:
        raise DPIQAError(f"pretrain_prior.images: {folder} holds {len(paths)} images; the prior needs at least "
                         f"one to train on and one held out (holdout_fraction {holdout_fraction})")
    order = np.random.default_rng(seed).permutation(len(paths))
    return [paths[i] for i in sorted(order[held:])], [paths[i] for i in sorted(order[:held])]


def split_images(manifest: Path, split: Path, root: Path) -> tuple[list[Path], list[Path]]:
    """The training split's images to learn from and the validation split's to hold out; their
    scores are never read."""
    train, val = (split_table(manifest, split, part)["image"] for part in ("train", "val"))
    return [Path(root) / image for image in train], [Path(root) / image for image in val]


class LatentPosteriors(Dataset):
    """The trained VAE's posterior (mean, std) per image: what the U-Net learns to denoise."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.mean)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"mean": self.mean[index], "std": self.std[index]}


class UnlabelledDataModule(L.LightningDataModule):
    """Training and held-out sets of unlabelled samples (images or latents), as loaders."""

    def __init__(self, train: Dataset, held_out: Dataset, batch_size: int, num_workers: int):
        super().__init__()
        self.train, self.held_out = train, held_out
        self.batch_size, self.num_workers = batch_size, num_workers

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        workers = self.num_workers if isinstance(dataset, UnlabelledImages) else 0  # latents sit in memory
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=workers,
                          persistent_workers=workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.held_out, shuffle=False)
