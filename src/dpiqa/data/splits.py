"""Train/val/test splits kept as files, so every later stage uses the same ones.

The official split is used where a dataset has one; otherwise a seeded random split in which
val is carved from train (the test part is never used for model selection). Synthetic sets are
split by content (the reference image, or the photo its tiles were cut from), so no scene
appears on both sides.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dpiqa.errors import DPIQAError

SPLITS = ("train", "val", "test")


def _share(count: int, fraction: float) -> int:
    """Groups to hold out: the rounded fraction, but at least one and never all of them."""
    return int(min(max(round(count * fraction), 1), count - 1))


def random_split(
    groups: pd.Series, seed: int, test_fraction: float, val_fraction: float
) -> pd.Series:
    """Assign every row to a split by shuffling its group labels with `seed`."""
    unique = np.array(sorted(groups.unique()))
    if len(unique) < len(SPLITS):
        raise DPIQAError(f"need at least {len(SPLITS)} groups to split, got {len(unique)}")
    order = np.random.default_rng(seed).permutation(unique)
    n_test = _share(len(order), test_fraction)
    n_val = _share(len(order) - n_test, val_fraction)
    assignment = dict.fromkeys(order[:n_test], "test")
    assignment.update(dict.fromkeys(order[n_test : n_test + n_val], "val"))
    assignment.update(dict.fromkeys(order[n_test + n_val :], "train"))
    return groups.map(assignment)


def make_split(
    manifest: pd.DataFrame,
    seed: int,
    *,
    test_fraction: float,
    val_fraction: float,
    use_official: bool,
    by_reference: bool,
) -> pd.DataFrame:
    """One split: a table of image and split (train / val / test)."""
    if use_official and manifest["official_split"].notna().all():
        split = manifest["official_split"]
    else:
        groups = manifest["content"].fillna(manifest["ref_image"]) if by_reference else manifest["image"]
        if groups.isna().any():
            raise DPIQAError("splitting by reference image needs ref_image on every row")
        split = random_split(groups, seed, test_fraction, val_fraction)
    return pd.DataFrame({"image": manifest["image"], "split": split})


def write_split(split: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    split.to_csv(path, index=False)


def read_split(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"image": str, "split": str})
