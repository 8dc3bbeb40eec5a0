"""Builders of small datasets in each dataset's real layout and file formats."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import savemat

SIDE = 48


def write_image(path: Path, seed: int = 0, side: int = SIDE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            bundle.write(path, path.relative_to(folder).as_posix())
    return archive


@pytest.fixture
def koniq_files(tmp_path: Path) -> dict:
    """The three KonIQ files as served: images zip, labels zip, official split CSV."""
    names = [f"{100000 + i}.jpg" for i in range(10)]
    build = tmp_path / "koniq_build"
    for i, name in enumerate(names):
        write_image(build / "images" / "1024x768" / name, seed=i)
    zscore = np.linspace(5, 95, len(names))
    labels = pd.DataFrame(
        {"image_name": names, "c1": 1, "c2": 2, "c3": 3, "c4": 2, "c5": 1, "c_total": 9,
         "MOS": 1 + zscore / 25, "SD": 0.5, "MOS_zscore": zscore}
    )
    (build / "labels").mkdir()
    labels.to_csv(build / "labels" / "koniq10k_scores_and_distributions.csv", index=False)
    sets = labels.drop(columns="MOS_zscore").assign(
        MOS=zscore, set=["training"] * 6 + ["validation"] * 2 + ["test"] * 2
    )
    sets_csv = tmp_path / "koniq10k_distributions_sets.csv"
    sets.to_csv(sets_csv, index=False)
    return {
        "koniq10k_1024x768.zip": zip_folder(build / "images", tmp_path / "koniq10k_1024x768.zip"),
        "koniq10k_scores_and_distributions.zip": zip_folder(
            build / "labels", tmp_path / "koniq10k_scores_and_distributions.zip"
        ),
        "koniq10k_distributions_sets.csv": sets_csv,
        "zscore": zscore,
    }


@pytest.fixture
def kadid_zip(tmp_path: Path) -> Path:
    root = tmp_path / "kadid_build"
    rows = []
    for ref in (1, 2):
        write_image(root / "kadid10k" / "images" / f"I{ref:02d}.png", seed=ref)
        for kind in (1, 10, 25):
            for level in (1, 5):
                name = f"I{ref:02d}_{kind:02d}_{level:02d}.png"
                write_image(root / "kadid10k" / "images" / name, seed=ref * 100 + kind + level)
                rows.append({"dist_img": name, "ref_img": f"I{ref:02d}.png",
                             "dmos": 5.0 - level * 0.7, "var": 0.25})
    pd.DataFrame(rows).to_csv(root / "kadid10k" / "dmos.csv", index=False)
    return zip_folder(root, tmp_path / "kadid10k.zip")


def _cell(strings: list[str]) -> np.ndarray:
    cell = np.empty((len(strings), 1), dtype=object)
    for i, text in enumerate(strings):
        cell[i, 0] = np.array([text])
    return cell


@pytest.fixture
def clive_folder(tmp_path: Path) -> Path:
    """ChallengeDB_release as shipped: MATLAB .mat labels, 7 rater-training images first."""
    release = tmp_path / "clive_src" / "ChallengeDB_release"
    training = [f"t{i}.bmp" for i in range(1, 8)]
    regular = [f"{i}.JPG" for i in range(3, 8)]
    for i, name in enumerate(training):
        write_image(release / "Images" / "trainingImages" / name, seed=i)
    for i, name in enumerate(regular):
        write_image(release / "Images" / name, seed=50 + i)
    names = training + regular
    data = release / "Data"
    data.mkdir(parents=True)
    savemat(data / "AllImages_release.mat", {"AllImages_release": _cell(names)})
    savemat(data / "AllMOS_release.mat", {"AllMOS_release": np.linspace(10, 90, len(names))[None]})
    savemat(data / "AllStdDev_release.mat", {"AllStdDev_release": np.full((1, len(names)), 12.5)})
    return release.parent


@pytest.fixture
def spaq_folder(tmp_path: Path) -> Path:
    root = tmp_path / "spaq_src"
    names = [f"{i:05d}.jpg" for i in range(1, 7)]
    for i, name in enumerate(names):
        write_image(root / "TestImage" / name, seed=i)
    (root / "Annotations").mkdir()
    pd.DataFrame(
        {"Image name": names, "MOS": [10, 25, 40, 55, 70, 95], "Brightness": 50, "Colorfulness": 50}
    ).to_excel(root / "Annotations" / "MOS and Image attribute scores.xlsx", index=False)
    return root


@pytest.fixture
def agiqa_folder(tmp_path: Path) -> Path:
    root = tmp_path / "agiqa_src"
    names = [f"AttnGAN_normal_{i:03d}.jpg" for i in range(6)]
    for i, name in enumerate(names):
        write_image(root / "images" / name, seed=i)
    pd.DataFrame(
        {"name": names, "prompt": "a cat", "adj1": None, "adj2": None, "style": None,
         "mos_quality": np.linspace(0.5, 4.5, 6), "std_quality": 0.3,
         "mos_align": 2.0, "std_align": 0.4}
    ).to_csv(root / "data.csv", index=False)
    return root


@pytest.fixture
def livefb_folder(tmp_path: Path) -> Path:
    root = tmp_path / "livefb_src"
    names = [f"voc_emotic_ava/AVA__{i}.jpg" for i in range(6)]
    for i, name in enumerate(names):
        write_image(root / "database" / name, seed=i)
    pd.DataFrame({"name": names, "mos": np.linspace(20, 80, 6), "std": 5}).to_csv(
        root / "labels_image.csv", index=False
    )
    return root


def distorted_photos(folder: Path, count: int, side: int = 96) -> list[Path]:
    """Real photos (shipped with scikit-image) under blur and noise of rising strength: a test
    set whose quality varies, in a stable order."""
    from PIL import ImageFilter
    from skimage import data

    photos = [Image.fromarray(getattr(data, name)()).convert("RGB").resize((side, side)) for name in
              ("astronaut", "coffee", "chelsea", "rocket")]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        level = i / max(count - 1, 1)
        image = photos[i % len(photos)].filter(ImageFilter.GaussianBlur(3 * level))
        noisy = np.asarray(image, dtype=float) + rng.normal(0, 40 * level * (i % 3) / 2, (side, side, 3))
        path = folder / f"photo-{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths
