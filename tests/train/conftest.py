"""Fixtures of the training tests."""

import numpy as np
import pandas as pd
import pytest

from dpiqa.data.manifest import build_manifest, write_manifest
from dpiqa.data.splits import write_split

from ..conftest import RANDOM_INIT
from ..data.conftest import write_image


@pytest.fixture
def small_dataset(make_params, tmp_path):
    """Params pointing at a 10-image folder dataset split 6 train / 2 val / 2 test."""
    params = make_params({
        "models": {"prompt_cache": str(tmp_path / "prompts"), **RANDOM_INIT["models"]},
        "runtime": {"num_workers": 0},
        "encode_latents": {"out": str(tmp_path / "latents.safetensors"), "batch_size": 4},
    })
    images = [f"img{i}.png" for i in range(10)]
    for i, name in enumerate(images):
        write_image(params.data.dataset_dir(params.base.dataset) / name, seed=i, side=64)
    write_manifest(build_manifest(params.base.dataset, images, np.linspace(0, 100, 10), (0, 100)),
                   params.data.manifest_path(params.base.dataset))
    write_split(pd.DataFrame({"image": images, "split": ["train"] * 6 + ["val"] * 2 + ["test"] * 2}),
                params.split_file())
    return params
