"""The one manifest format every dataset becomes: a table with one row per image.

Columns:
- image: path relative to the dataset's folder (data/datasets/<key>/)
- mos: the score normalised to [0, 1] by the dataset's nominal scale (higher is better)
- mos_raw, mos_std: the score as the dataset ships it and its std (NaN where unknown)
- dataset: the dataset key
- ref_image, distortion, distortion_level: for synthetic sets (empty otherwise)
- content: the scene a synthetic image shows where several references share one (tiles of one
  photo); splits keep a content on one side (empty: each reference is its own content)
- official_split: train / val / test where the dataset has an official split
- label_source: "human", or "synthetic:<metric>" for generated pseudo-MOS labels
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dpiqa.errors import DPIQAError

COLUMNS = [
    "image",
    "mos",
    "mos_raw",
    "mos_std",
    "dataset",
    "ref_image",
    "content",
    "distortion",
    "distortion_level",
    "official_split",
    "label_source",
]
REQUIRED = ["image", "mos", "mos_raw", "dataset", "label_source"]
HUMAN_LABELS = "human"


def normalise_mos(raw: pd.Series | np.ndarray, mos_range: tuple[float, float]) -> np.ndarray:
    """Map a dataset's nominal scale linearly onto [0, 1]: the only place scores are rescaled."""
    low, high = mos_range
    return (np.asarray(raw, dtype=float) - low) / (high - low)


def build_manifest(
    dataset: str,
    images: list[str] | pd.Series,
    mos_raw: list[float] | pd.Series,
    mos_range: tuple[float, float],
    label_source: str = HUMAN_LABELS,
    **optional_columns,
) -> pd.DataFrame:
    """Assemble a manifest in the canonical column order; absent optional columns are empty."""
    unknown = set(optional_columns) - set(COLUMNS)
    if unknown:
        raise DPIQAError(f"not manifest columns: {sorted(unknown)}")
    frame = pd.DataFrame({"image": list(images), "mos_raw": np.asarray(mos_raw, dtype=float)})
    frame["mos"] = normalise_mos(frame["mos_raw"], mos_range)
    frame["dataset"] = dataset
    frame["label_source"] = label_source
    for column in COLUMNS:
        if column in optional_columns:
            frame[column] = list(optional_columns[column])
        elif column not in frame:
            frame[column] = np.nan if column == "mos_std" else None
    return frame[COLUMNS]


def write_manifest(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def read_manifest(path: Path) -> pd.DataFrame:
    return pd.read_csv(
        path,
        dtype={"image": str, "ref_image": str, "content": str, "distortion": str, "official_split": str},
        keep_default_na=True,
    )
