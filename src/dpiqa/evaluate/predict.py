"""Scores of a model for every image of a dataset split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from dpiqa.data.loading import IQADataset


@torch.inference_mode()
def predict(
    model: nn.Module, dataset: IQADataset, batch_size: int, num_workers: int = 0, device: str = "cpu"
) -> pd.DataFrame:
    """One row per image: the manifest's columns plus `prediction` on the [0, 1] scale."""
    model.eval().to(device)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    scores = np.concatenate([model(batch["image"].to(device))[0].float().cpu().numpy() for batch in loader])
    return dataset.table.assign(prediction=scores)
