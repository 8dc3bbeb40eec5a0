"""Figures for the report and MLflow: prediction vs MOS, and training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 110


def scatter(frame: pd.DataFrame, dataset: str, models: tuple[str, ...], path: Path) -> Path:
    figure, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4), sharey=True)
    for axis, name in zip(axes if len(models) > 1 else [axes], models):
        axis.scatter(frame["mos"], frame[name], s=8, alpha=0.6)
        axis.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--")
        axis.set(title=f"{name} on {dataset}", xlabel="MOS (normalised)", ylabel="prediction")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def training_curves(curves: dict[str, pd.DataFrame], path: Path) -> Path:
    figure, (loss_axis, srcc_axis) = plt.subplots(1, 2, figsize=(9, 3.6))
    for name, curve in curves.items():
        loss_axis.plot(curve["epoch"], curve["train_loss"], marker="o", label=name)
        srcc_axis.plot(curve["epoch"], curve["val_srcc"], marker="o", label=name)
    loss_axis.set(title="training loss", xlabel="epoch", yscale="log")
    srcc_axis.set(title="validation SRCC", xlabel="epoch")
    for axis in (loss_axis, srcc_axis):
        axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path
