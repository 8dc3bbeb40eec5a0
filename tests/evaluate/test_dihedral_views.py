"""The by-hand benchmark's view scoring: orientation-free models agree across views, others do not."""

import importlib.util
from pathlib import Path

import numpy as np
import torch

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "dihedral_views.py"
spec = importlib.util.spec_from_file_location("dihedral_views", SCRIPT)
dihedral_views = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dihedral_views)


class CornerScore(torch.nn.Module):
    """Scores (score, map) like the pipeline's models: `corner` reads the top-left pixel only."""

    def __init__(self, corner: bool):
        super().__init__()
        self.corner = corner

    def forward(self, images):
        score = images[:, :, 0, 0].mean(1) if self.corner else images.mean(dim=(1, 2, 3))
        return score, images


def test_eight_views_identity_first_and_alike_only_for_an_orientation_free_model():
    images = torch.rand(5, 3, 8, 8)
    free = dihedral_views.view_scores(CornerScore(corner=False), images, batch_size=2)
    assert free.shape == (8, 5)
    np.testing.assert_allclose(free, np.broadcast_to(free[0], free.shape), rtol=1e-5)
    corner = dihedral_views.view_scores(CornerScore(corner=True), images, batch_size=2)
    np.testing.assert_allclose(corner[0], images[:, :, 0, 0].mean(1).numpy(), rtol=1e-6)
    assert len({tuple(np.round(view, 6)) for view in corner}) == 4  # each corner of the image once per view pair
