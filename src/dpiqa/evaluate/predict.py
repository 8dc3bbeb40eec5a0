"""Scores of a model for every image of a dataset split."""

from __future__ import annotations

import pandas as pd
from torch import nn

from dpiqa.data.loading import IQADataset
from dpiqa.models.inference import run_over


def predict(
    model: nn.Module, dataset: IQADataset, batch_size: int, num_workers: int = 0, device: str = "cpu"
) -> pd.DataFrame:
    """One row per image: the manifest's columns plus `prediction` on the [0, 1] scale."""
    model.eval().to(device)
    [scores] = run_over(lambda images: model(images)[:1], dataset, batch_size=batch_size, num_workers=num_workers,
                        device=device)
    return dataset.table.assign(prediction=scores.numpy())
