"""Parsers for datasets the user provides, reading each label file exactly as it ships."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from scipy.io import loadmat

from dpiqa.config import FolderSource
from dpiqa.data.cards import card
from dpiqa.data.manifest import build_manifest
from dpiqa.data.sources.local import DatasetNotFoundError, find_one, relative
from dpiqa.errors import DPIQAError

# CLIVE's 7 rater-training images (t1.bmp .. t7.bmp), which the standard protocol drops.
CLIVE_TRAINING_IMAGE = re.compile(r"t\d+\.bmp", re.IGNORECASE)
SPAQ_LABELS = "MOS and Image attribute scores.xlsx"


def _image_base(root: Path, first_name: str, what: str) -> Path:
    """The folder that image names in a label file are relative to, found by the first name."""
    name = PurePosixPath(first_name)
    found = find_one(root, name.name, what)
    return found.parents[len(name.parts) - 1]


def _mat_vector(path: Path, key: str) -> np.ndarray:
    return np.ravel(loadmat(path)[key])


def parse_clive(root: Path, drop_training_images: bool) -> pd.DataFrame:
    data = find_one(root, "AllMOS_release.mat", "CLIVE labels").parent
    cells = _mat_vector(data / "AllImages_release.mat", "AllImages_release")
    names = [str(np.ravel(cell)[0]) for cell in cells]
    mos = _mat_vector(data / "AllMOS_release.mat", "AllMOS_release").astype(float)
    std = _mat_vector(data / "AllStdDev_release.mat", "AllStdDev_release").astype(float)
    if not len(names) == len(mos) == len(std):
        raise DPIQAError(f"CLIVE: {len(names)} names, {len(mos)} MOS, {len(std)} std in {data}")
    images = data.parent / "Images"
    paths = [
        images / "trainingImages" / name if CLIVE_TRAINING_IMAGE.fullmatch(name) else images / name
        for name in names
    ]
    frame = build_manifest(
        "clive", [relative(p, root) for p in paths], mos, card("clive").mos_range, mos_std=std
    )
    if drop_training_images:
        frame = frame[[not CLIVE_TRAINING_IMAGE.fullmatch(n) for n in names]].reset_index(drop=True)
    return frame


def parse_spaq(root: Path) -> pd.DataFrame:
    labels = pd.read_excel(find_one(root, SPAQ_LABELS, "SPAQ labels"))
    names, mos = labels.iloc[:, 0].astype(str), labels.iloc[:, 1]
    base = _image_base(root, names.iloc[0], "SPAQ images")
    return build_manifest(
        "spaq", [relative(base / n, root) for n in names], mos, card("spaq").mos_range
    )


def parse_agiqa3k(root: Path) -> pd.DataFrame:
    labels = pd.read_csv(find_one(root, "data.csv", "AGIQA-3K labels"))
    base = _image_base(root, labels["name"].iloc[0], "AGIQA-3K images")
    return build_manifest(
        "agiqa3k",
        [relative(base / n, root) for n in labels["name"]],
        labels["mos_quality"],
        card("agiqa3k").mos_range,
        mos_std=labels["std_quality"],
    )


def parse_livefb(root: Path) -> pd.DataFrame:
    labels = pd.read_csv(find_one(root, "labels_image.csv", "LIVE-FB labels"))
    base = _image_base(root, labels["name"].iloc[0], "LIVE-FB images")
    return build_manifest(
        "livefb",
        [relative(base / n, root) for n in labels["name"]],
        labels["mos"],
        card("livefb").mos_range,
    )


def parse_folder(root: Path, config: FolderSource) -> pd.DataFrame:
    if not config.labels:
        raise DatasetNotFoundError("folder: set data.sources.folder.labels to the CSV of scores")
    labels_path = Path(config.labels).expanduser()
    labels = pd.read_csv(labels_path if labels_path.is_absolute() else root / labels_path)
    missing = {config.image_column, config.score_column} - set(labels.columns)
    if missing:
        raise DPIQAError(
            f"folder: the labels CSV has no column(s) {sorted(missing)}; it has {list(labels.columns)}"
        )
    optional = {"mos_std": labels[config.std_column]} if config.std_column else {}
    return build_manifest(
        "folder",
        labels[config.image_column].astype(str),
        labels[config.score_column],
        config.mos_range,
        **optional,
    )
