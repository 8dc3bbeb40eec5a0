import numpy as np
import pytest

from dpiqa.data.manifest import COLUMNS
from dpiqa.data.sources import prepare_dataset
from dpiqa.data.sources.local import DatasetNotFoundError
from dpiqa.errors import DPIQAError

from .conftest import write_image, zip_folder


def _exists(params, key, manifest):
    root = params.data.dataset_dir(key)
    return all((root / image).is_file() for image in manifest["image"])


def test_koniq10k_downloads_over_http_with_its_official_split(make_params, file_server, koniq_files):
    server, served, url = file_server
    for name in ("koniq10k_1024x768.zip", "koniq10k_scores_and_distributions.zip",
                 "koniq10k_distributions_sets.csv"):
        (served / name).write_bytes(koniq_files[name].read_bytes())
    params = make_params({"data": {"sources": {"koniq10k": {
        "images_url": f"{url}/koniq10k_1024x768.zip",
        "labels_url": f"{url}/koniq10k_scores_and_distributions.zip",
        "split_url": f"{url}/koniq10k_distributions_sets.csv"}}}})
    manifest = prepare_dataset("koniq10k", params)
    assert list(manifest.columns) == COLUMNS
    assert manifest["image"].iloc[0] == "1024x768/100000.jpg"
    np.testing.assert_allclose(manifest["mos"], koniq_files["zscore"] / 100)
    assert manifest["official_split"].value_counts().to_dict() == {"train": 6, "val": 2, "test": 2}
    assert _exists(params, "koniq10k", manifest)
    # A second run reuses the cached archives: no new request reaches the server.
    seen = len(server.requests_seen)
    prepare_dataset("koniq10k", params)
    assert len(server.requests_seen) == seen


def test_kadid10k_parses_references_and_distortions(make_params, file_server, kadid_zip):
    _, served, url = file_server
    (served / "kadid10k.zip").write_bytes(kadid_zip.read_bytes())
    params = make_params({"data": {"sources": {"kadid10k": {
        "url": f"{url}/kadid10k.zip", "size": kadid_zip.stat().st_size}}}})
    manifest = prepare_dataset("kadid10k", params)
    assert len(manifest) == 12
    first = manifest.iloc[0]
    assert first["image"] == "kadid10k/images/I01_01_01.png"
    assert first["ref_image"] == "kadid10k/images/I01.png"
    assert set(manifest["distortion"]) == {"gaussian_blur", "jpeg", "contrast_change"}
    assert first["mos"] == pytest.approx((4.3 - 1) / 4)
    assert first["mos_std"] == pytest.approx(0.5)
    assert _exists(params, "kadid10k", manifest)


@pytest.mark.parametrize("as_archive", [False, True])
def test_clive_reads_mat_files_and_drops_the_rater_training_images(
    make_params, clive_folder, tmp_path, as_archive
):
    path = zip_folder(clive_folder, tmp_path / "ChallengeDB_release.zip") if as_archive else clive_folder
    params = make_params({"data": {"sources": {"clive": {"path": str(path)}}}})
    manifest = prepare_dataset("clive", params)
    assert list(manifest["image"]) == [f"ChallengeDB_release/Images/{i}.JPG" for i in range(3, 8)]
    np.testing.assert_allclose(manifest["mos_raw"], np.linspace(10, 90, 12)[7:])
    assert (manifest["mos_std"] == 12.5).all()
    assert _exists(params, "clive", manifest)


def test_clive_can_keep_the_rater_training_images(make_params, clive_folder):
    params = make_params({"data": {"sources": {"clive": {
        "path": str(clive_folder), "drop_training_images": False}}}})
    manifest = prepare_dataset("clive", params)
    assert manifest["image"].iloc[0] == "ChallengeDB_release/Images/trainingImages/t1.bmp"
    assert len(manifest) == 12 and _exists(params, "clive", manifest)


def test_spaq_reads_its_xlsx(make_params, spaq_folder):
    params = make_params({"data": {"sources": {"spaq": {"path": str(spaq_folder)}}}})
    manifest = prepare_dataset("spaq", params)
    assert manifest["image"].iloc[0] == "TestImage/00001.jpg"
    assert list(manifest["mos"]) == pytest.approx([0.10, 0.25, 0.40, 0.55, 0.70, 0.95])


def test_agiqa3k_reads_data_csv_from_the_environment_variable(make_params, agiqa_folder, monkeypatch):
    monkeypatch.setenv("DPIQA_AGIQA3K_PATH", str(agiqa_folder))
    params = make_params()
    manifest = prepare_dataset("agiqa3k", params)
    assert manifest["image"].iloc[0] == "images/AttnGAN_normal_000.jpg"
    assert manifest["mos"].iloc[-1] == pytest.approx(4.5 / 5)
    assert (manifest["mos_std"] == 0.3).all()
    assert _exists(params, "agiqa3k", manifest)


def test_livefb_keeps_nested_image_names(make_params, livefb_folder):
    params = make_params({"data": {"sources": {"livefb": {"path": str(livefb_folder)}}}})
    manifest = prepare_dataset("livefb", params)
    assert manifest["image"].iloc[0] == "database/voc_emotic_ava/AVA__0.jpg"
    assert _exists(params, "livefb", manifest)


def test_folder_source_uses_the_configured_columns_and_range(make_params, tmp_path):
    images = tmp_path / "mine"
    for i in range(4):
        write_image(images / f"shot{i}.png", seed=i)
    (images / "scores.csv").write_text("file,score,sd\n" + "".join(
        f"shot{i}.png,{2 + i},0.1\n" for i in range(4)))
    params = make_params({"data": {"sources": {"folder": {
        "path": str(images), "labels": "scores.csv", "image_column": "file",
        "score_column": "score", "std_column": "sd", "mos_range": [1, 10]}}}})
    manifest = prepare_dataset("folder", params)
    assert list(manifest["mos"]) == pytest.approx([1 / 9, 2 / 9, 3 / 9, 4 / 9])
    assert _exists(params, "folder", manifest)


def test_folder_source_names_a_missing_column(make_params, tmp_path):
    images = tmp_path / "mine"
    write_image(images / "a.png")
    (images / "scores.csv").write_text("name,value\na.png,3\n")
    params = make_params({"data": {"sources": {"folder": {"path": str(images), "labels": "scores.csv"}}}})
    with pytest.raises(DPIQAError, match=r"no column\(s\) \['image', 'mos'\]"):
        prepare_dataset("folder", params)


@pytest.mark.parametrize("key,variable", [("clive", "DPIQA_CLIVE_PATH"), ("spaq", "DPIQA_SPAQ_PATH"),
                                          ("livefb", "DPIQA_LIVEFB_PATH")])
def test_a_missing_manual_dataset_says_where_to_get_it(make_params, monkeypatch, key, variable):
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(DatasetNotFoundError, match=f"data.sources.{key}.path.*{variable}") as error:
        prepare_dataset(key, make_params())
    assert "http" in str(error.value)
    assert not make_params().data.dataset_dir(key).exists()


def test_a_wrong_manual_path_is_named(make_params, tmp_path):
    params = make_params({"data": {"sources": {"spaq": {"path": str(tmp_path / "nowhere")}}}})
    with pytest.raises(DatasetNotFoundError, match="nowhere.*does not exist"):
        prepare_dataset("spaq", params)


def test_an_unknown_dataset_is_refused(make_params):
    with pytest.raises(DPIQAError, match="unknown dataset 'imagenet'"):
        prepare_dataset("imagenet", make_params())
