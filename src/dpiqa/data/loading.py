"""Torch datasets and the Lightning DataModule over a manifest and its split file."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from safetensors import safe_open
from torch.utils.data import DataLoader, Dataset

from dpiqa.data.images import model_input, to_rgb
from dpiqa.data.manifest import read_manifest
from dpiqa.data.splits import read_split
from dpiqa.errors import DPIQAError


class ImageTensors:
    """Per-image tensors precomputed by a stage (the teacher's maps, the VAE posterior), read row
    by row from a safetensors file (memory-mapped), so no worker holds the whole tensor.

    `fields` maps the file's tensor names to the batch keys they arrive under.
    """

    def __init__(self, path: Path, fields: dict[str, str]):
        self.path, self.fields = Path(path), fields
        with safe_open(self.path, framework="pt") as handle:
            self.metadata = handle.metadata()
            missing = set(fields) - set(handle.keys())
        if missing:
            raise DPIQAError(f"{self.path} has no tensors {sorted(missing)}; re-run the stage that writes it")
        self.images = json.loads(self.metadata["images"])
        self.row_of = {image: row for row, image in enumerate(self.images)}
        self._slices = None

    def __getstate__(self) -> dict:  # each worker process opens the file itself
        return {**self.__dict__, "_slices": None}

    def __getitem__(self, image: str) -> dict[str, torch.Tensor]:
        if self._slices is None:
            handle = safe_open(self.path, framework="pt")
            self._slices = {name: handle.get_slice(name) for name in self.fields}
        row = self.row_of[image]
        return {key: self._slices[name][row : row + 1][0].float() for name, key in self.fields.items()}

    def require(self, images) -> None:
        missing = set(images) - set(self.row_of)
        if missing:
            raise DPIQAError(f"{self.path} lacks {len(missing)} images (e.g. {sorted(missing)[0]}); re-run its stage")


TEACHER_MAP_FIELDS = {"maps": "teacher_map"}
POSTERIOR_FIELDS = {"mean": "latent_mean", "std": "latent_std"}
FIT_SPLITS = ("train", "val")  # the splits a model is fitted and selected on


class IQADataset(Dataset):
    def __init__(self, table: pd.DataFrame, root: Path, image_size: int, extras: list[ImageTensors] = (),
                 resize: str = "bicubic"):
        self.table = table.reset_index(drop=True)
        self.root = Path(root)
        self.image_size, self.resize = image_size, resize
        self.extras = list(extras)
        for extra in self.extras:
            extra.require(self.table["image"])

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> dict:
        row = self.table.iloc[index]
        item = {
            "image": torch.from_numpy(model_input(to_rgb(self.root / row["image"]), self.image_size, self.resize)),
            "mos": torch.tensor(row["mos"], dtype=torch.float32),
        }
        for extra in self.extras:
            item.update(extra[row["image"]])
        return item


def split_table(manifest_path: Path, split_path: Path, split: str) -> pd.DataFrame:
    manifest = read_manifest(manifest_path)
    assignment = read_split(split_path)
    if len(assignment) != len(manifest) or set(assignment["image"]) != set(manifest["image"]):
        raise DPIQAError(f"{split_path} does not cover the images of {manifest_path}; re-run the split stage")
    chosen = set(assignment.loc[assignment["split"] == split, "image"])
    return manifest[manifest["image"].isin(chosen)].reset_index(drop=True)


class IQADataModule(L.LightningDataModule):
    """Train and val loaders for one dataset and split seed; test only when asked for explicitly.

    `teacher_targets` adds the teacher's maps to training batches; `latent_cache` adds the VAE
    posterior to the batches of `latent_splits`.
    """

    def __init__(
        self,
        manifest: Path,
        split: Path,
        root: Path,
        image_size: int,
        batch_size: int,
        num_workers: int,
        teacher_targets: Path | None = None,
        latent_cache: Path | None = None,
        resize: str = "bicubic",
        latent_splits: tuple[str, ...] = FIT_SPLITS,
    ):
        super().__init__()
        self.manifest, self.split, self.root = Path(manifest), Path(split), Path(root)
        self.image_size, self.batch_size, self.num_workers = image_size, batch_size, num_workers
        self.teacher_targets, self.latent_cache, self.resize = teacher_targets, latent_cache, resize
        self.latent_splits = latent_splits

    def dataset(self, split: str, extras: list[ImageTensors] = ()) -> IQADataset:
        return IQADataset(split_table(self.manifest, self.split, split), self.root, self.image_size, extras, self.resize)

    def setup(self, stage: str) -> None:
        if stage == "fit":
            posterior = [ImageTensors(self.latent_cache, POSTERIOR_FIELDS)] if self.latent_cache else []
            targets = [ImageTensors(self.teacher_targets, TEACHER_MAP_FIELDS)] if self.teacher_targets else []
            self.train_set = self.dataset("train", (posterior if "train" in self.latent_splits else []) + targets)
            self.val_set = self.dataset("val", posterior if "val" in self.latent_splits else [])

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
