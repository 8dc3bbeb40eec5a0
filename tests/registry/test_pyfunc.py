"""The registered pyfunc model's answers, serialised as MLflow's scoring server does."""

import base64
import io

import pandas as pd
from mlflow.pyfunc.scoring_server import predictions_to_json

from dpiqa.registry.pyfunc import DPIQAPyfunc

from ..conftest import heavy_modules_after, save_model_folder
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


def test_scoring_from_the_registry_loads_no_torch(make_params, tiny_student, tiny_profile, tmp_path, monkeypatch):
    """`dpiqa score --model models:/...` of a registered student: MLflow, ONNX Runtime, no torch."""
    import mlflow

    from dpiqa.registry.pyfunc import log_pyfunc

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # MLflow writes artifacts under the working directory
    mlflow.set_tracking_uri(uri)
    save_model_folder(tiny_student, tmp_path / "student", tiny_profile)
    with mlflow.start_run():
        log_pyfunc(tmp_path / "student", "s", "student", make_params().score)
    image = str(write_image(tmp_path / "a.png", seed=1))
    code = (f"from dpiqa.cli import main\ntry:\n    main(['score', {image!r}, '--model', 'models:/s/1', "
            f"'--out', {str(tmp_path / 'out.json')!r}])\nexcept SystemExit as exit_:\n    assert exit_.code == 0, exit_.code")
    assert "torch" not in heavy_modules_after(code)
    assert strict_loads((tmp_path / "out.json").read_text())[0]["error"] is None
