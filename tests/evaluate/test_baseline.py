import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage, stats

from dpiqa.errors import DPIQAError
from dpiqa.evaluate.baseline import (
    CNNIQA,
    CNNIQAConfig,
    _grid_patches,
    predict_cnniqa,
    train_cnniqa,
)

LEVELS = 5
# Small steps: LCN divides by the local std, so once noise swamps the image's own contrast, levels look alike.
NOISE_STEP = 0.015
SIDE = 64
# Few patches per step and frequent validation: 150 steps (2-3 s of CPU) learn the noise level. The learning
# tests stop on steps, not on time, so that a busy machine slows them down instead of failing them.
CONFIG = CNNIQAConfig(batch_size=32, validate_every=25, max_steps=150)
# Predicting the mean MOS is off by 0.24 on average: a model that learnt the labels must do much better.
LEARNT_MAE = 0.15

Split = tuple[list[Path], np.ndarray]


def noisy_images(folder: Path, photos: int, seed: int) -> Split:
    """Smooth random photos at increasing Gaussian noise levels; MOS falls linearly with the level."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    paths, mos = [], []
    for photo in range(photos):
        smooth = ndimage.gaussian_filter(rng.normal(size=(SIDE, SIDE)), sigma=4)
        clean = 0.2 + 0.6 * (smooth - smooth.min()) / np.ptp(smooth)
        for level in range(LEVELS):
            noisy = np.clip(clean + rng.normal(0, NOISE_STEP * level, clean.shape), 0, 1)
            path = folder / f"{photo}_{level}.png"
            Image.fromarray((noisy * 255).round().astype(np.uint8)).save(path)
            paths.append(path)
            mos.append(1 - level / LEVELS)
    return paths, np.array(mos)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Patches this small gain nothing from a second thread, and run several times slower when another process
    holds the other core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Split]:
    root = tmp_path_factory.mktemp("noise")
    return {
        "train": noisy_images(root / "train", photos=8, seed=0),
        "val": noisy_images(root / "val", photos=3, seed=1),
        "test": noisy_images(root / "test", photos=4, seed=2),
    }


def test_cnniqa_scores_each_patch():
    assert CNNIQA(CNNIQAConfig()).eval()(torch.randn(5, 1, 32, 32)).shape == (5,)


def test_scored_patches_are_a_centred_grid_thinned_evenly():
    lcn = torch.arange(100 * 64, dtype=torch.float32).reshape(100, 64)  # a 3x2 grid, 4 rows of margin
    patches = _grid_patches(lcn, CNNIQAConfig(test_patches=3))
    corners = [(int(value) // 64, int(value) % 64) for value in patches[:, 0, 0, 0]]
    assert patches.shape == (3, 1, 32, 32) and corners == [(2, 0), (34, 0), (66, 32)]  # first, middle, last


def held_out_agreement(model: CNNIQA, split: Split) -> tuple[float, float]:
    images, mos = split
    prediction = predict_cnniqa(model, images, CONFIG)
    return stats.spearmanr(prediction, mos).statistic, np.abs(prediction - mos).mean()


def test_training_learns_the_noise_level(splits):
    """Ranking alone proves nothing here: the max and min of random filters grow with the noise, so an
    untrained network already ranks these images at |SRCC| ~ 0.95. Scores on the MOS scale need the labels."""
    model, log = train_cnniqa(*splits["train"], *splits["val"], config=CONFIG, time_budget_s=math.inf, seed=0)
    srcc, mae = held_out_agreement(model, splits["test"])
    assert srcc > 0.8 and mae < LEARNT_MAE, log
    assert log["steps"] == CONFIG.max_steps and log["best_val_srcc"] > 0.8
    assert log["epochs"] == pytest.approx(CONFIG.max_steps * CONFIG.batch_size / (40 * 4))  # 4 patches an image


def test_shuffled_labels_fail_the_learning_test(splits):
    """The control that shows the test above can fail, even with model selection on the true validation MOS."""
    images, mos = splits["train"]
    shuffled = np.random.default_rng(100).permutation(mos)
    model, _ = train_cnniqa(images, shuffled, *splits["val"], config=CONFIG, time_budget_s=math.inf, seed=0)
    _, mae = held_out_agreement(model, splits["test"])
    assert mae > LEARNT_MAE


def test_a_seed_reproduces_a_run(splits):
    config = dataclasses.replace(CONFIG, max_steps=5)

    def scores() -> np.ndarray:
        model, _ = train_cnniqa(*splits["train"], *splits["val"], config=config, time_budget_s=math.inf, seed=3)
        return predict_cnniqa(model, splits["test"][0], config)

    np.testing.assert_array_equal(scores(), scores())


def test_the_time_budget_ends_training(splits):
    config = dataclasses.replace(CONFIG, max_steps=None)
    _, log = train_cnniqa(*splits["train"], *splits["val"], config=config, time_budget_s=0.5, seed=0)
    assert log["steps"] >= 1 and log["wall_s"] >= 0.5
    model, log = train_cnniqa(*splits["train"], *splits["val"], config=config, time_budget_s=0, seed=0)
    assert log["steps"] == 0 and np.isfinite(predict_cnniqa(model, splits["test"][0], config)).all()


def test_images_are_resized_before_patching(splits):
    image = splits["test"][0][:1]
    assert predict_cnniqa(CNNIQA(CONFIG), image, CONFIG, image_size=40).shape == (1,)
    with pytest.raises(DPIQAError, match="smaller than a 32px patch"):
        predict_cnniqa(CNNIQA(CONFIG), image, CONFIG, image_size=16)
