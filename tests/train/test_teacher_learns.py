"""The tiny teacher learns a detail cue (issue: it stayed near chance): with the high-pass
adapter input it ranks images by their noise within a few dozen steps."""

import lightning as L
import numpy as np
import torch
from scipy.stats import spearmanr
from torch.utils.data import DataLoader

from dpiqa.models.profiles import build_teacher
from dpiqa.train.modules import TeacherModule

from ..conftest import RANDOM_INIT, deep_update
from .test_student_learns import noisy_batches

STEPS_PER_EPOCH, EPOCHS = 4, 16  # 64 steps: the local score head needs more than 32 (SRCC 0.67 at 32)
PIXELS = {"kind": "pixels", "window": None, "gain": None}


def fit_teacher(make_params, prompts, adapter_input: dict | None = None) -> tuple[float, float]:
    """Test SRCC and prediction spread after training on noise-graded images."""
    change = {"models": {"profiles": {"tiny": {"teacher": {"image_adapter_input": adapter_input}}}}} if adapter_input else {}
    profile = make_params(deep_update(RANDOM_INIT, change)).models.profiles["tiny"]
    L.seed_everything(0, verbose=False)
    teacher = build_teacher(profile, prompts, seed=0)
    module = TeacherModule(teacher, ranking_weight=0.0, ranking_margin=0.0, augment="none", lr=3e-4, weight_decay=0.0,
                           milestones=[EPOCHS], lr_gamma=1.0, min_val_prediction_std=1e-3,
                           schedule="multistep", warmup_fraction=0.3)
    train = DataLoader(noisy_batches(profile, 16 * STEPS_PER_EPOCH, seed=1), batch_size=16, shuffle=True)
    trainer = L.Trainer(max_epochs=EPOCHS, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(module, train_dataloaders=train)
    test = noisy_batches(profile, 48, seed=3)
    with torch.no_grad():
        scores = teacher.eval()(torch.stack([b["image"] for b in test]))[0].numpy()
    return spearmanr(scores, np.array([float(b["mos"]) for b in test])).statistic, scores.std()


def test_the_teacher_ranks_noise_with_the_highpass_adapter_input_and_worse_on_pixels(make_params, tmp_path):
    """The second half keeps the root cause visible: a randomly initialised adapter on pixels
    reads mean colour, not detail."""
    assert make_params().models.profiles["tiny"].teacher.image_adapter_input.kind == "highpass"
    highpass, spread = fit_teacher(make_params, tmp_path)
    assert spread > 0.02
    assert highpass > 0.8
    pixels, _ = fit_teacher(make_params, tmp_path, PIXELS)
    assert pixels < highpass - 0.2
