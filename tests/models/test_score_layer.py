import pytest
import torch
from torch import nn

from dpiqa.models.score_layer import SCORE_MIDPOINT, mlp_input_width, mlp_score, zero_init_score_layer

CHANNELS, SIDE, HIDDEN = 8, 6, 16


@pytest.fixture
def layers() -> tuple[nn.Linear, nn.Linear, nn.Linear]:
    def build(head: str):
        torch.manual_seed(0)
        return (nn.Linear(mlp_input_width(head, CHANNELS, SIDE), HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, 1))
    return build


def test_the_local_head_scores_where_quality_is_not_where_it_sits(layers):
    maps = torch.randn(3, CHANNELS, SIDE, SIDE)
    moved = torch.roll(maps, shifts=(2, 3), dims=(2, 3))
    local, flatten = layers("local"), layers("flatten")
    assert mlp_score(maps, "local", *local).shape == (3,)
    torch.testing.assert_close(mlp_score(moved, "local", *local), mlp_score(maps, "local", *local))
    assert not torch.allclose(mlp_score(moved, "flatten", *flatten), mlp_score(maps, "flatten", *flatten))


def test_the_local_score_is_the_mean_of_each_positions_score(layers):
    maps = torch.randn(2, CHANNELS, SIDE, SIDE)
    local = layers("local")
    per_position = [mlp_score(maps[:, :, y:y + 1, x:x + 1], "local", *local) for y in range(SIDE) for x in range(SIDE)]
    torch.testing.assert_close(mlp_score(maps, "local", *local), torch.stack(per_position).mean(dim=0))


def test_an_untrained_head_scores_mid_scale(layers):
    fc1, fc2, fc3 = layers("local")
    zero_init_score_layer(fc3)
    assert torch.all(mlp_score(torch.randn(4, CHANNELS, SIDE, SIDE), "local", fc1, fc2, fc3) == SCORE_MIDPOINT)


def test_an_unknown_head_is_refused():
    with pytest.raises(ValueError, match="score head"):
        mlp_input_width("pooled", CHANNELS, SIDE)
