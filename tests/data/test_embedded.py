import numpy as np
import pytest
from PIL import Image

from dpiqa.data.sources import embedded
from dpiqa.data.splits import make_split
from dpiqa.errors import DPIQAError


@pytest.fixture
def small_config(make_params):
    """The real embedded config cut to three photos and four distortions."""
    config = make_params().source("embedded")
    distortions = {k: config.distortions[k] for k in ("gaussian_blur", "jpeg", "white_noise", "darken")}
    return config.model_copy(update={"photos": config.photos[:3], "distortions": distortions})


def test_the_default_set_has_ten_photos_and_ten_distortions_at_five_levels(make_params):
    config = make_params().source("embedded")
    assert len(set(config.photos)) >= 10
    assert len(config.distortions) >= 10
    assert all(len(levels) == 5 for levels in config.distortions.values())
    assert set(config.distortions) <= set(embedded.DISTORTIONS)


@pytest.mark.parametrize("photo", list(embedded.PHOTOS))
def test_every_shipped_photo_loads_offline(photo):
    image = embedded.load_photo(photo, 64)
    assert image.size == (64, 64) and image.mode == "RGB"
    assert np.asarray(image).std() > 10  # a real photo, not a blank


def test_photos_are_distinct():
    arrays = [np.asarray(embedded.load_photo(p, 32), dtype=float) for p in embedded.PHOTOS]
    for i in range(len(arrays)):
        for j in range(i):
            assert np.abs(arrays[i] - arrays[j]).mean() > 5


@pytest.mark.parametrize("distortion", list(embedded.DISTORTIONS))
def test_each_distortion_changes_the_image_more_at_higher_levels(distortion):
    pristine = embedded.load_photo("astronaut", 96)
    rng = np.random.default_rng(0)
    levels = {"gaussian_blur": [0.5, 5], "motion_blur": [3, 19], "white_noise": [0.001, 0.08],
              "impulse_noise": [0.005, 0.1], "multiplicative_noise": [0.01, 0.3], "jpeg": [60, 3],
              "jpeg2000": [30, 500], "contrast_decrease": [0.8, 0.15], "brighten": [1.2, 2.3],
              "darken": [0.85, 0.25], "desaturate": [0.8, 0.0], "pixelate": [2, 8],
              "color_quantization": [64, 4]}[distortion]
    base = np.asarray(pristine, dtype=float)
    errors = [np.abs(np.asarray(embedded.DISTORTIONS[distortion](pristine, level, rng), dtype=float)
                     - base).mean() for level in levels]
    assert 0 < errors[0] < errors[1]


def test_generation_is_deterministic_and_labels_are_synthetic(small_config, tmp_path):
    first = embedded.generate(small_config, tmp_path / "a", seed=5)
    second = embedded.generate(small_config, tmp_path / "b", seed=5)
    assert first.equals(second)
    tiles = small_config.tiles_per_side**2
    assert len(first) == small_config.expected_count == 3 * tiles * (1 + 4 * 5)
    for name in first["image"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (first["label_source"] == f"synthetic:{small_config.label_metric}").all()
    pristine = first[first["distortion"] == embedded.PRISTINE]
    assert np.allclose(pristine["mos"], 1, atol=1e-4) and (pristine["image"] == pristine["ref_image"]).all()
    assert first["mos"].between(0, 1).all()


def test_another_seed_changes_the_noise(small_config, tmp_path):
    a = embedded.generate(small_config, tmp_path / "a", seed=1)
    embedded.generate(small_config, tmp_path / "b", seed=2)
    noisy = a[a["distortion"] == "white_noise"]["image"].iloc[0]
    assert (tmp_path / "a" / noisy).read_bytes() != (tmp_path / "b" / noisy).read_bytes()


def test_pseudo_mos_falls_with_the_distortion_level(small_config, tmp_path):
    manifest = embedded.generate(small_config, tmp_path, seed=0)
    distorted = manifest[manifest["distortion"] != embedded.PRISTINE]
    means = distorted.groupby("distortion_level")["mos"].mean()
    assert means.is_monotonic_decreasing
    size = Image.open(tmp_path / manifest["image"].iloc[0]).size
    assert size == (small_config.image_size, small_config.image_size)


def test_generated_set_splits_without_leaks(small_config, tmp_path):
    """Tiles of one photo are separate references but one scene: never on two sides."""
    manifest = embedded.generate(small_config, tmp_path, seed=0)
    assert manifest.groupby("content")["ref_image"].nunique().eq(small_config.tiles_per_side**2).all()
    split = make_split(manifest, 0, test_fraction=0.34, val_fraction=0.5, use_official=True,
                       by_reference=True)
    per_photo = manifest.assign(split=split["split"]).groupby("content")["split"].nunique()
    assert (per_photo == 1).all() and split["split"].nunique() == 3


def test_tiles_cut_the_photo_without_resizing_them(small_config):
    side, tiles = small_config.image_size, small_config.tiles_per_side
    cut = embedded.photo_tiles("astronaut", side, tiles)
    whole = np.asarray(embedded.load_photo("astronaut", side * tiles))
    assert len(cut) == tiles**2 and all(tile.size == (side, side) for tile in cut)
    assert np.array_equal(np.asarray(cut[-1]), whole[-side:, -side:])


@pytest.mark.parametrize("metric", ["haarpsi", "vsi", "ms_ssim", "ssim"])
def test_each_label_metric_ranks_noise_levels(metric):
    pristine = embedded.load_photo("astronaut", 192)
    rng = np.random.default_rng(0)
    noisy = [embedded.DISTORTIONS["white_noise"](pristine, var, rng) for var in (0.001, 0.01, 0.08)]
    scores = embedded.full_reference_scores([pristine, *noisy], pristine, metric)
    assert scores[0] == pytest.approx(1, abs=1e-3) and (np.diff(scores) < 0).all()


def test_unknown_names_are_refused(small_config, tmp_path):
    with pytest.raises(DPIQAError, match="unknown embedded photo 'lena'"):
        embedded.load_photo("lena", 32)
    bad = small_config.model_copy(update={"distortions": {"sepia": [1, 2, 3, 4, 5]}})
    with pytest.raises(DPIQAError, match="unknown distortions \\['sepia'\\]"):
        embedded.generate(bad, tmp_path, seed=0)
