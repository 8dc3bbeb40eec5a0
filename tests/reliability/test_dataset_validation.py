import json

import numpy as np
import pytest

from dpiqa.data.manifest import build_manifest
from dpiqa.data.validation import ManifestValidationError, SuiteSpec, validate_manifest
from dpiqa.offline import external_loads

from ..data.conftest import write_image

ROWS = 6


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "dataset"
    names = [f"images/{i}.png" for i in range(ROWS)]
    for i, name in enumerate(names):
        write_image(root / name, seed=i)
    manifest = build_manifest("folder", names, np.linspace(10, 90, ROWS), (0, 100))
    return root, manifest


def _validate(root, manifest, tmp_path, expected_count=ROWS):
    spec = SuiteSpec("folder", (0, 100), expected_count, min_image_side=32, max_image_pixels=50_000_000)
    return validate_manifest(manifest, root, spec, tmp_path / "report", example_rows=3)


def _failure(tmp_path) -> dict:
    return json.loads((tmp_path / "report" / "result.json").read_text())


def test_a_good_manifest_passes_and_writes_json_and_data_docs(dataset, tmp_path):
    root, manifest = dataset
    report = _validate(root, manifest, tmp_path)
    assert report["success"] and report["failures"] == []
    saved = _failure(tmp_path)
    assert saved["success"] and saved["rows"] == ROWS
    pages = list((tmp_path / "report" / "data_docs").rglob("*.html"))
    assert len(pages) >= 3 and (tmp_path / "report" / "data_docs" / "index.html") in pages
    assert not {page.name: external_loads(page.read_text()) for page in pages if external_loads(page.read_text())}


def test_a_corrupt_image_fails_naming_the_file(dataset, tmp_path):
    root, manifest = dataset
    (root / "images/2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(ManifestValidationError, match=r"decodes.*\n.*images/2.png") as error:
        _validate(root, manifest, tmp_path)
    assert "rgb_convertible" in str(error.value)
    assert "image_error" in str(error.value)


def test_a_truncated_image_fails(dataset, tmp_path):
    root, manifest = dataset
    path = root / "images/1.png"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ManifestValidationError, match="images/1.png"):
        _validate(root, manifest, tmp_path)


def test_a_nan_score_fails(dataset, tmp_path):
    root, manifest = dataset
    manifest.loc[3, ["mos", "mos_raw"]] = np.nan
    with pytest.raises(ManifestValidationError, match=r"not_be_null on 'mos'.*\n.*images/3.png"):
        _validate(root, manifest, tmp_path)


@pytest.mark.parametrize("value", [1.5, np.inf, -0.1])
def test_an_out_of_range_score_fails(dataset, tmp_path, value):
    root, manifest = dataset
    manifest.loc[4, "mos"] = value
    with pytest.raises(ManifestValidationError, match=r"to_be_between on 'mos': 1 rows\n.*images/4.png"):
        _validate(root, manifest, tmp_path)


def test_a_raw_score_outside_the_nominal_scale_fails(dataset, tmp_path):
    root, manifest = dataset
    manifest.loc[0, "mos_raw"] = 250
    with pytest.raises(ManifestValidationError, match="to_be_between on 'mos_raw'"):
        _validate(root, manifest, tmp_path)


def test_a_duplicate_row_fails(dataset, tmp_path):
    root, manifest = dataset
    doubled = manifest.iloc[[0, 1, 2, 3, 4, 5, 5]]
    with pytest.raises(ManifestValidationError, match=r"unique on 'image': 2 rows\n.*images/5.png"):
        _validate(root, doubled, tmp_path, expected_count=ROWS + 1)


def test_a_missing_file_fails(dataset, tmp_path):
    root, manifest = dataset
    (root / "images/5.png").unlink()
    with pytest.raises(ManifestValidationError, match=r"file_exists.*\n.*images/5.png.*file not found"):
        _validate(root, manifest, tmp_path)
    assert not _failure(tmp_path)["success"]


@pytest.mark.parametrize("escape", ["../outside.png", "/etc/passwd"])
def test_a_path_escaping_the_dataset_fails(dataset, tmp_path, escape):
    root, manifest = dataset
    write_image(root.parent / "outside.png")
    manifest.loc[0, "image"] = escape
    with pytest.raises(ManifestValidationError, match=f"inside_root.*\n.*{escape}"):
        _validate(root, manifest, tmp_path)


def test_a_too_small_image_fails(dataset, tmp_path):
    root, manifest = dataset
    write_image(root / "images/0.png", side=16)
    with pytest.raises(ManifestValidationError, match=r"min_side.*\n.*images/0.png"):
        _validate(root, manifest, tmp_path)


def test_the_wrong_row_count_fails(dataset, tmp_path):
    root, manifest = dataset
    with pytest.raises(ManifestValidationError, match="row_count_to_equal: observed 6"):
        _validate(root, manifest, tmp_path, expected_count=10_073)


def test_a_missing_column_fails(dataset, tmp_path):
    root, manifest = dataset
    with pytest.raises(ManifestValidationError, match="column_to_exist on 'mos'"):
        _validate(root, manifest.drop(columns="mos"), tmp_path)


def test_grayscale_and_palette_images_are_accepted(dataset, tmp_path):
    from PIL import Image

    root, manifest = dataset
    Image.open(root / "images/0.png").convert("L").save(root / "images/0.png")
    Image.open(root / "images/1.png").convert("P").save(root / "images/1.png")
    assert _validate(root, manifest, tmp_path)["success"]
