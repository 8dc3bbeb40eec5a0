"""How the teacher's and the student's last layer, the one that outputs the score, starts."""

from __future__ import annotations

from torch import nn

# Every manifest scores on [0, 1] (dpiqa.data.manifest.normalise_mos): predictions start mid-scale.
SCORE_MIDPOINT = 0.5


def zero_init_score_layer(layer: nn.Linear) -> None:
    """Start every prediction at the scale's midpoint. A He-initialised last layer gives a random
    network scores of +-10 on a [0, 1] scale, and a zero bias needs hundreds of Adam steps
    (about lr each) to climb to the scores' level: both spend the short CPU budget on an offset."""
    nn.init.zeros_(layer.weight)
    nn.init.constant_(layer.bias, SCORE_MIDPOINT)
