import pandas as pd
import pytest

from dpiqa.evaluate.evaluation import latency_per_image, per_distortion


def test_per_distortion_srcc_skips_groups_without_spread():
    frame = pd.DataFrame({
        "distortion": ["blur"] * 4 + ["pristine"] * 3,
        "mos": [0.9, 0.7, 0.5, 0.3, 1.0, 1.0, 1.0],
        "teacher": [0.8, 0.6, 0.4, 0.2, 0.9, 0.9, 0.9],
        "student": [0.2, 0.4, 0.6, 0.8, 0.9, 0.9, 0.9],
    })
    table = per_distortion(frame)
    assert list(table["distortion"]) == ["blur"]
    assert table.loc[0, "teacher"] == pytest.approx(1) and table.loc[0, "student"] == pytest.approx(-1)


def test_latency_times_one_image_of_the_model_size(tiny_profile):
    shapes = []
    assert latency_per_image(lambda image: shapes.append(image.shape), tiny_profile.image_size, runs=2) >= 0
    assert shapes == [(1, 3, tiny_profile.image_size, tiny_profile.image_size)] * 3  # warm-up + 2 runs
