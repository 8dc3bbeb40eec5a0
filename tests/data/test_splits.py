import numpy as np
import pandas as pd
import pytest

from dpiqa.data.manifest import build_manifest
from dpiqa.data.splits import make_split
from dpiqa.errors import DPIQAError


def _synthetic(references: int = 10, per_reference: int = 6) -> pd.DataFrame:
    refs = [f"ref{r}.png" for r in range(references) for _ in range(per_reference)]
    images = [f"ref{r}_d{d}.png" for r in range(references) for d in range(per_reference)]
    return build_manifest("embedded", images, np.linspace(0, 100, len(images)), (0, 100),
                          ref_image=refs)


def _human(rows: int = 100) -> pd.DataFrame:
    return build_manifest("agiqa3k", [f"{i}.jpg" for i in range(rows)], np.linspace(0, 5, rows), (0, 5))


def _split(manifest, seed=0, **overrides):
    options = dict(test_fraction=0.2, val_fraction=0.25, use_official=True, by_reference=False)
    return make_split(manifest, seed, **{**options, **overrides})


def test_random_split_follows_the_ratios_and_covers_every_row():
    split = _split(_human())
    assert split["split"].value_counts().to_dict() == {"train": 60, "test": 20, "val": 20}
    assert list(split["image"]) == list(_human()["image"])


def test_a_seed_gives_the_same_split_and_another_seed_a_different_one():
    assert _split(_human(), seed=3).equals(_split(_human(), seed=3))
    assert not _split(_human(), seed=3).equals(_split(_human(), seed=4))


@pytest.mark.parametrize("seed", range(5))
def test_synthetic_sets_split_by_reference_so_no_content_leaks(seed):
    manifest = _synthetic()
    split = _split(manifest, seed=seed, by_reference=True)
    sides = manifest.assign(split=split["split"]).groupby("ref_image")["split"].nunique()
    assert (sides == 1).all()
    assert set(split["split"]) == {"train", "val", "test"}


def test_splitting_by_image_would_leak_content():
    """The control for the test above: without grouping, references straddle splits."""
    manifest = _synthetic()
    split = _split(manifest, by_reference=False)
    assert (manifest.assign(split=split["split"]).groupby("ref_image")["split"].nunique() > 1).any()


def test_the_official_split_is_used_where_there_is_one():
    manifest = _human(10)
    manifest["official_split"] = ["train"] * 6 + ["val"] * 2 + ["test"] * 2
    assert list(_split(manifest, seed=7)["split"]) == list(manifest["official_split"])
    assert _split(manifest, use_official=False)["split"].value_counts()["test"] == 2


def test_too_few_groups_are_refused():
    with pytest.raises(DPIQAError, match="at least 3 groups"):
        _split(_synthetic(references=2), by_reference=True)
