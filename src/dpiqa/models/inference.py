"""Running a model over every image of a dataset, in order: the one batched-inference loop
behind predictions, the latent cache and the teacher's maps."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm


@torch.inference_mode()
def run_over(
    forward: Callable[[torch.Tensor], tuple[torch.Tensor, ...]],
    dataset: Dataset,
    *,
    batch_size: int,
    num_workers: int,
    device: str,
    progress: str | None = None,
) -> list[torch.Tensor]:
    """`forward` on every image's model input, in dataset order; each of its outputs
    concatenated over the dataset, float32 on the CPU. `progress`: a label to show a bar."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    outputs = [[tensor.float().cpu() for tensor in forward(batch["image"].to(device))]
               for batch in tqdm(loader, desc=progress, unit="batch", disable=progress is None)]
    return [torch.cat(parts) for parts in zip(*outputs)]
