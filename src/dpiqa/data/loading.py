"""Torch datasets and the Lightning DataModule over a manifest and its split file."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from PIL import Image, ImageOps
from safetensors import safe_open
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from dpiqa.data.manifest import read_manifest
from dpiqa.data.splits import read_split


def image_transform(image_size: int) -> v2.Compose:
    """The models' input: RGB resized to a square (no crop, no flip), float in [0, 1]."""
    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize((image_size, image_size), interpolation=v2.InterpolationMode.BICUBIC, antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Lambda(lambda x: x.clamp(0, 1)),  # bicubic overshoots
        ]
    )


def to_rgb(source) -> Image.Image:
    """RGB pixels of an image file or stream, upright (EXIF orientation applied): the one
    decoding used for training, evaluation and scoring."""
    with Image.open(source) as image:
        image.load()
        return ImageOps.exif_transpose(image).convert("RGB")


class TeacherTargets:
    """The teacher's quality maps, one per training image, read row by row from a safetensors
    file (memory-mapped), so no worker holds the whole tensor."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with safe_open(self.path, framework="pt") as handle:
            self.images = json.loads(handle.metadata()["images"])
        self.row_of = {image: row for row, image in enumerate(self.images)}
        self._maps = None

    def __getstate__(self) -> dict:  # each worker process opens the file itself
        return {**self.__dict__, "_maps": None}

    def __getitem__(self, image: str) -> torch.Tensor:
        if self._maps is None:
            self._maps = safe_open(self.path, framework="pt").get_slice("maps")
        row = self.row_of[image]
        return self._maps[row : row + 1][0]


class IQADataset(Dataset):
    def __init__(self, table: pd.DataFrame, root: Path, image_size: int, targets: TeacherTargets | None = None):
        self.table = table.reset_index(drop=True)
        self.root = Path(root)
        self.transform = image_transform(image_size)
        self.targets = targets

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> dict:
        row = self.table.iloc[index]
        item = {
            "image": self.transform(to_rgb(self.root / row["image"])),
            "mos": torch.tensor(row["mos"], dtype=torch.float32),
        }
        if self.targets is not None:
            item["teacher_map"] = self.targets[row["image"]].float()
        return item


def split_table(manifest_path: Path, split_path: Path, split: str) -> pd.DataFrame:
    manifest = read_manifest(manifest_path)
    assignment = read_split(split_path)
    if len(assignment) != len(manifest) or set(assignment["image"]) != set(manifest["image"]):
        raise ValueError(f"{split_path} does not cover the images of {manifest_path}; re-run the split stage")
    chosen = set(assignment.loc[assignment["split"] == split, "image"])
    return manifest[manifest["image"].isin(chosen)].reset_index(drop=True)


class IQADataModule(L.LightningDataModule):
    """Train and val loaders for one dataset and split seed; test only when asked for explicitly."""

    def __init__(
        self,
        manifest: Path,
        split: Path,
        root: Path,
        image_size: int,
        batch_size: int,
        num_workers: int,
        teacher_targets: Path | None = None,
    ):
        super().__init__()
        self.manifest, self.split, self.root = Path(manifest), Path(split), Path(root)
        self.image_size, self.batch_size, self.num_workers = image_size, batch_size, num_workers
        self.teacher_targets = teacher_targets

    def dataset(self, split: str, with_targets: bool = False) -> IQADataset:
        targets = TeacherTargets(self.teacher_targets) if with_targets and self.teacher_targets else None
        return IQADataset(split_table(self.manifest, self.split, split), self.root, self.image_size, targets)

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.train_set = self.dataset("train", with_targets=True)
            self.val_set = self.dataset("val")

    def _loader(self, dataset: IQADataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)
