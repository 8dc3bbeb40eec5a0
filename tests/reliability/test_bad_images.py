"""Bad images wherever images enter: the decoder, `dpiqa score`, the served model, datasets.

Each refused file gets an error naming it and the reason, nothing else in the batch is lost,
and the exit code says whether anything failed; valid files in unusual formats are converted.
"""

import base64
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dpiqa.data.images import to_rgb
from dpiqa.data.manifest import build_manifest
from dpiqa.data.validation import ManifestValidationError, SuiteSpec, validate_manifest
from dpiqa.registry.pyfunc import DPIQAPyfunc
from dpiqa.scoring import ImageError, read_source

from ..conftest import REPO, save_model_folder
from ..data.conftest import write_image
from .bad_images import CASES, DECODED, REFUSED


@pytest.fixture
def scorer(make_scorer, tiny_student, tiny_profile):
    return make_scorer(tiny_student, tiny_profile, batch_size=4)


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.name)
def test_a_refused_image_is_named_with_its_reason_and_the_batch_goes_on(case, scorer, tmp_path):
    good = [str(write_image(tmp_path / f"good{i}.png", seed=i)) for i in range(3)]
    bad = str(case.write(tmp_path))
    results = scorer.score([good[0], bad, *good[1:]])
    assert [r.error is None for r in results] == [True, False, True, True]
    assert results[1].score is None and bad in results[1].error and case.refused_because in results[1].error


@pytest.mark.parametrize("case", DECODED, ids=lambda c: c.name)
def test_a_valid_image_in_an_unusual_format_is_converted(case, scorer, tmp_path):
    path = case.write(tmp_path)
    rgb = to_rgb(path)
    assert rgb.mode == "RGB" and rgb.size == case.upright_size
    [result] = scorer.score([str(path)])
    assert result.error is None and np.isfinite(result.score)


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    pixels = np.asarray(to_rgb(next(c for c in CASES if c.name == "sixteen-bit.png").write(tmp_path)))
    assert pixels.min() == 0 and pixels.max() == 255
    assert 120 <= np.median(pixels) <= 135  # a linear ramp: mid-grey in the middle, not all white


def test_an_unreadable_file_is_named_with_the_reason(tmp_path):
    """chmod 000; root reads anything, so as root the check runs in a child process as nobody."""
    folder = tempfile.mkdtemp(prefix="dpiqa-unreadable-")
    try:
        os.chmod(folder, 0o755)
        path = write_image(Path(folder) / "locked.png")
        os.chmod(path, 0)
        if os.geteuid() != 0:
            with pytest.raises(ImageError, match="locked.png: cannot be read \\(Permission denied\\)"):
                read_source(str(path), max_bytes=1 << 20)
            return
        child = os.fork()
        if child == 0:  # never returns into pytest
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                read_source(str(path), max_bytes=1 << 20)
            except ImageError as error:
                code = 0 if "locked.png: cannot be read (Permission denied)" in str(error) else 2
            finally:
                os._exit(code)
        assert os.waitpid(child, 0)[1] == 0
    finally:
        shutil.rmtree(folder)


def test_dpiqa_score_reports_every_file_and_exits_1(tiny_student, tiny_profile, tmp_path):
    folder = tmp_path / "inbox"
    for case in CASES:
        case.write(folder)
    write_image(folder / "good.png")
    save_model_folder(tiny_student, tmp_path / "model", tiny_profile)
    dpiqa = os.path.join(os.path.dirname(sys.executable), "dpiqa")
    result = subprocess.run([dpiqa, "score", str(folder), "--model", str(tmp_path / "model"), "--params",
                             str(REPO / "params.yaml"), "--out", str(tmp_path / "scores.csv")],
                            capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1, result.stderr
    assert f"scored {len(DECODED) + 1} of {len(CASES) + 1} images; {len(REFUSED)} failed" in result.stderr
    rows = pd.read_csv(tmp_path / "scores.csv").set_index("path")
    for case in REFUSED:
        assert case.refused_because in rows.loc[str(folder / case.name), "error"]
    assert rows.loc[[str(folder / c.name) for c in DECODED], "score"].notna().all()

    clean = tmp_path / "clean"
    clean.mkdir()
    write_image(clean / "good.png")
    ok = subprocess.run([dpiqa, "score", str(clean), "--model", str(tmp_path / "model"), "--params",
                         str(REPO / "params.yaml")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_the_served_model_reports_every_posted_image(scorer, tmp_path):
    """The pyfunc behind `dpiqa serve`/`mlflow models serve`, with base64 payloads."""
    served = DPIQAPyfunc()
    served.info, served.scorer = {"mos_range": [0, 100]}, scorer
    payload = [base64.b64encode(case.content()).decode() for case in CASES]
    answer = served.predict(None, pd.DataFrame({"image": payload}))
    for case, (_, row) in zip(CASES, answer.iterrows()):
        if case.refused_because:
            assert np.isnan(row["score"]) and case.refused_because in row["error"], case.name
        else:
            assert row["error"] == "" and np.isfinite(row["score"]), case.name


def test_dataset_validation_names_each_refused_image_and_accepts_the_rest(tmp_path):
    root = tmp_path / "dataset"
    for case in CASES:
        case.write(root / "images")
    names = [f"images/{case.name}" for case in CASES]
    manifest = build_manifest("folder", names, np.linspace(10, 90, len(names)), (0, 100))
    spec = SuiteSpec("folder", (0, 100), len(names), min_image_side=32, max_image_pixels=50_000_000)
    with pytest.raises(ManifestValidationError) as error:
        validate_manifest(manifest, root, spec, tmp_path / "report", example_rows=len(CASES))
    message = str(error.value)
    for case in REFUSED:
        assert f"images/{case.name}" in message, case.name
    accepted = manifest[manifest["image"].isin([f"images/{c.name}" for c in DECODED])]
    spec = SuiteSpec("folder", (0, 100), len(accepted), min_image_side=32, max_image_pixels=50_000_000)
    assert validate_manifest(accepted, root, spec, tmp_path / "report-ok")["success"]
