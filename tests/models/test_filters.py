"""The fixed filters models read images through."""

import pytest
import torch

from dpiqa.models.filters import box_mean, local_contrast_normalise


def test_lcn_is_zero_and_finite_on_a_flat_image():
    lcn = local_contrast_normalise(torch.full((2, 1, 40, 40), 0.5))
    assert torch.isfinite(lcn).all() and lcn.abs().max() < 1e-4


def test_lcn_centres_scales_and_ignores_brightness_and_contrast():
    gray = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    lcn = local_contrast_normalise(gray)
    local_mean = torch.nn.functional.avg_pool2d(lcn, 7, stride=1)
    assert local_mean.abs().mean() < 0.1 and 0.8 < lcn.std() < 1.2
    darker_flatter = local_contrast_normalise(0.1 + 0.5 * gray, eps=1e-6)
    assert torch.allclose(darker_flatter, local_contrast_normalise(gray, eps=1e-6), atol=1e-3)


def test_lcn_needs_a_centred_window():
    with pytest.raises(ValueError, match="even kernel"):
        local_contrast_normalise(torch.rand(1, 1, 16, 16), kernel=6)


def test_lcn_normalises_each_colour_channel_on_its_own():
    gray = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    colour = torch.cat([gray, 0.2 * gray + 0.5, 1 - gray], dim=1)
    lcn = local_contrast_normalise(colour, eps=1e-6)
    assert torch.allclose(lcn[:, 0], lcn[:, 1], atol=1e-3) and torch.allclose(lcn[:, 0], -lcn[:, 2], atol=1e-3)


@pytest.mark.parametrize("window", [3, 7])
def test_box_mean_is_average_pooling_at_stride_one(window):
    images = torch.rand(2, 3, 30, 34, generator=torch.Generator().manual_seed(2))
    expected = torch.nn.functional.avg_pool2d(images, window, stride=1)
    assert torch.allclose(box_mean(images, window), expected, atol=1e-5)
