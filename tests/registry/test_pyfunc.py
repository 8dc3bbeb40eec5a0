"""The registered pyfunc model's answers, serialised as MLflow's scoring server does."""

import base64
import io

import pandas as pd
from mlflow.pyfunc.scoring_server import predictions_to_json

from dpiqa.registry.pyfunc import DPIQAPyfunc

from ..data.conftest import write_image
from ..strict import strict_loads


def test_a_refused_image_is_null_in_a_strictly_valid_response(make_scorer, tiny_student, tiny_profile, tmp_path):
    wrapper = DPIQAPyfunc()
    wrapper.scorer = make_scorer(tiny_student, tiny_profile)
    wrapper.accept_paths = False
    good = base64.b64encode(write_image(tmp_path / "a.png", seed=1).read_bytes()).decode()
    answer = wrapper.predict(None, pd.DataFrame({"image": [good, "not base64 at all"]}))
    out = io.StringIO()
    predictions_to_json(answer, out)
    rows = strict_loads(out.getvalue())["predictions"]
    assert isinstance(rows[0]["score"], float) and rows[0]["error"] == ""
    assert rows[1]["score"] is None and rows[1]["score_mos"] is None and rows[1]["error"]
