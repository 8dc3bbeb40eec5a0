import pandas as pd
import pytest

from dpiqa.evaluate.evaluation import latency_per_image
from dpiqa.evaluate.summaries import labels_only_srcc, per_distortion


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


def _graded(types: list, levels: list, content: list) -> pd.DataFrame:
    """Labels set by type and level (blur hurts twice as much as noise), moved a little by content."""
    frame = pd.DataFrame({"distortion": types, "distortion_level": levels, "content": content})
    harm = frame["distortion"].map({"blur": 0.2, "noise": 0.1}).fillna(0) * frame["distortion_level"].fillna(0)
    return frame.assign(mos=1 - harm + 0.01 * frame["content"])


def test_labels_alone_rank_as_well_as_type_and_level_explain_them():
    types = ["blur"] * 3 + ["noise"] * 3 + [None]
    levels = [1, 2, 3] * 2 + [None]
    train = pd.concat([_graded(types, levels, [c] * 7) for c in (0, 1, 2)])
    test = _graded(types, levels, [5] * 7)
    assert labels_only_srcc(train, test) == pytest.approx(1)
    against_levels = _graded(types, [3, 2, 1, 3, 2, 1, None], [5] * 7).assign(distortion_level=levels)
    assert labels_only_srcc(train, against_levels) < 0.5


def test_labels_alone_say_nothing_without_distortion_types():
    frame = pd.DataFrame({"distortion": [None, None], "distortion_level": [None, None], "mos": [0.2, 0.8]})
    assert labels_only_srcc(frame, frame) is None


def test_latency_times_one_image_of_the_model_size(tiny_profile):
    shapes = []
    assert latency_per_image(lambda image: shapes.append(image.shape), tiny_profile.image_size, runs=2) >= 0
    assert shapes == [(1, 3, tiny_profile.image_size, tiny_profile.image_size)] * 3  # warm-up + 2 runs
