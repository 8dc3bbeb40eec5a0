"""The tiny student learns a learnable signal and does not collapse in eval mode (issue: the
distilled student scored every image the same)."""

import lightning as L
import numpy as np
import torch
from scipy.stats import spearmanr
from torch.utils.data import DataLoader
from torchvision.transforms.functional import gaussian_blur

from dpiqa.models.profiles import build_student
from dpiqa.train.fit import PreciseBatchNorm
from dpiqa.train.modules import StudentModule

STEPS_PER_EPOCH, EPOCHS = 4, 8


def noisy_batches(profile, count: int, seed: int) -> list[dict]:
    """Smooth random images whose MOS falls with their Gaussian noise; the teacher map carries the MOS."""
    generator = torch.Generator().manual_seed(seed)
    side, map_side = profile.image_size, profile.image_size // 8
    smooth = torch.nn.functional.interpolate(torch.rand(count, 3, 8, 8, generator=generator), size=side, mode="bilinear")
    mos = torch.rand(count, generator=generator)
    images = (smooth + (1 - mos)[:, None, None, None] * 0.3 * torch.randn(smooth.shape, generator=generator)).clamp(0, 1)
    maps = mos[:, None, None, None].expand(count, 8, map_side, map_side).clone()
    return [{"image": i, "mos": m, "teacher_map": t} for i, m, t in zip(images, mos, maps)]


def blurred_batches(profile, count: int, seed: int) -> list[dict]:
    """Random texture whose MOS falls with its Gaussian blur: what local contrast normalisation keeps."""
    generator = torch.Generator().manual_seed(seed)
    side, map_side = profile.image_size, profile.image_size // 8
    texture = torch.nn.functional.interpolate(torch.rand(count, 3, side // 2, side // 2, generator=generator), size=side,
                                              mode="bilinear")
    mos = torch.rand(count, generator=generator)
    images = torch.stack([gaussian_blur(image, kernel_size=9, sigma=0.1 + 2.5 * (1 - float(m)))
                          for image, m in zip(texture, mos)])
    maps = mos[:, None, None, None].expand(count, 8, map_side, map_side).clone()
    return [{"image": i, "mos": m, "teacher_map": t} for i, m, t in zip(images, mos, maps)]


def imagenet_normalised(profile):
    """The BatchNorm tests' student reads ImageNet-normalised pixels: their signal is noise on flat
    images, whose amplitude a contrast-normalised input (`lcn`) divides away by design."""
    return profile.model_copy(update={"student": profile.student.model_copy(
        update={"input_normalisation": "imagenet", "lcn": None})})


def fit_student(profile, precise_bn_batches: int, batches=noisy_batches):
    L.seed_everything(0, verbose=False)
    student = build_student(profile, seed=0)
    module = StudentModule(student, map_weight=1.0, augment="none", lr=1e-3, weight_decay=0.0, milestones=[EPOCHS],
                           lr_gamma=1.0, min_val_prediction_std=1e-3,
                           schedule="multistep", warmup_fraction=0.3)
    train = DataLoader(batches(profile, 16 * STEPS_PER_EPOCH, seed=1), batch_size=16, shuffle=True)
    val = DataLoader(batches(profile, 32, seed=2), batch_size=16)
    trainer = L.Trainer(max_epochs=EPOCHS, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        callbacks=[PreciseBatchNorm(precise_bn_batches)])
    trainer.fit(module, train_dataloaders=train, val_dataloaders=val)
    test = batches(profile, 48, seed=3)
    with torch.no_grad():
        scores = student.eval()(torch.stack([b["image"] for b in test]))[0]
    return scores.numpy(), np.array([float(b["mos"]) for b in test]), trainer


def test_the_student_spreads_and_ranks_with_recalibrated_batch_norm(tiny_profile):
    scores, mos, trainer = fit_student(imagenet_normalised(tiny_profile), precise_bn_batches=STEPS_PER_EPOCH)
    assert scores.std() > 0.05
    assert spearmanr(scores, mos).statistic > 0.8
    assert trainer.callback_metrics["val/srcc"] > 0.8


def test_without_recalibration_eval_mode_collapses_and_no_epoch_counts(tiny_profile):
    """The root cause, kept visible: stale running statistics make every eval score the same,
    and the guard scores such an epoch as no ranking at all."""
    scores, _, trainer = fit_student(imagenet_normalised(tiny_profile), precise_bn_batches=0)
    assert scores.std() < 1e-3
    assert trainer.callback_metrics["val/srcc"] == -1.0


def test_the_shipped_contrast_normalising_student_ranks_blur(tiny_profile):
    assert tiny_profile.student.input_normalisation == "lcn"
    scores, mos, trainer = fit_student(tiny_profile, precise_bn_batches=STEPS_PER_EPOCH, batches=blurred_batches)
    assert scores.std() > 0.05
    assert spearmanr(scores, mos).statistic > 0.8
