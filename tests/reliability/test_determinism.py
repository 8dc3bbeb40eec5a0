"""Determinism: two `dvc repro` runs from clean on the CPU give identical results."""

import json

import pandas as pd
from safetensors.torch import load_file

from ..projects import new_project, run_in


def test_two_repros_from_clean_give_identical_metrics_predictions_and_weights(trained, tmp_path):
    """`trained` ran the pipeline from clean (data stages, then the rest); this runs it again,
    all stages in one go, in another folder."""
    again = new_project(tmp_path / "again")
    run_in(again, "dvc", "repro")
    first, second = (json.loads((p / "reports/metrics.json").read_text()) for p in (trained, again))
    assert first == second
    pd.testing.assert_frame_equal(pd.read_csv(trained / "reports/predictions/embedded.csv"),
                                  pd.read_csv(again / "reports/predictions/embedded.csv"))
    for model in ("teacher", "student"):
        a, b = (load_file(p / f"models/{model}/model.safetensors") for p in (trained, again))
        assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a), model
