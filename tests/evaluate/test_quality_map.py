import pytest
import torch
from torch import nn

from dpiqa.evaluate.heatmaps import score_contributions
from dpiqa.models.profiles import build_student, build_teacher

from ..conftest import RANDOM_INIT, deep_update


class LinearHead(nn.Module):
    """score = sum(weight x map) + bias over a convolution's map: contributions are known exactly."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 2, kernel_size=4, stride=4)
        self.weight = nn.Parameter(torch.randn(2, 4, 4))
        self.bias = nn.Parameter(torch.tensor(0.5))

    def forward(self, images):
        quality_map = torch.relu(self.features(images))
        return (self.weight * quality_map).sum(dim=(1, 2, 3)) + self.bias, quality_map


def test_contributions_are_gradient_times_map_summed_over_channels():
    torch.manual_seed(0)
    model, images = LinearHead(), torch.rand(3, 3, 16, 16)
    scores, contributions = score_contributions(model, images)
    expected_scores, quality_map = model(images)
    assert torch.allclose(scores, expected_scores.detach())
    assert torch.allclose(contributions, (model.weight * quality_map).sum(dim=1).detach())
    assert torch.allclose(contributions.sum(dim=(1, 2)) + model.bias, scores, atol=1e-6)


FLATTENED_HEADS = {"models": {"profiles": {"tiny": {"teacher": {"qfd": {"head": "flatten"}}, "student": {"head": "flatten"}}}}}


@pytest.mark.parametrize("kind", ["student", "teacher"])
def test_a_map_location_the_flattened_head_never_reads_contributes_nothing(kind, make_params, tmp_path):
    """Only a flattened head can ignore a location (the local head reads every one alike)."""
    profile = make_params(deep_update(RANDOM_INIT, FLATTENED_HEADS)).models.profiles["tiny"]
    model = build_student(profile, seed=0) if kind == "student" else build_teacher(profile, tmp_path / "prompts", seed=0)
    model.train()
    head = model.fc1 if kind == "student" else model.QFD.fc1
    size = model.map_size if kind == "student" else model.QFD.map_size
    unread = torch.zeros(size, size, dtype=torch.bool)
    unread[0, :3] = True  # the first three locations of the top row, in every channel
    with torch.no_grad():
        head.weight.view(head.out_features, -1, size, size)[:, :, unread] = 0
        nn.init.normal_(model.fc3.weight if kind == "student" else model.QFD.fc3.weight)
    images = torch.rand(2, 3, 128, 128)
    scores, contributions = score_contributions(model, images)
    assert model.training, "the caller's mode is restored"
    assert contributions.shape == (2, size, size)
    assert (contributions[:, unread] == 0).all() and (contributions[:, ~unread] != 0).any()
    with torch.no_grad():
        assert torch.allclose(scores, model.eval()(images)[0], atol=1e-6), "scored in eval mode, as `dpiqa score` does"
