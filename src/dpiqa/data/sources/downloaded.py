"""Datasets fetched from their official URLs: KonIQ-10k and KADID-10k."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from dpiqa.config import Kadid10kSource, Koniq10kSource
from dpiqa.data.cards import card
from dpiqa.data.download import download, extract
from dpiqa.data.manifest import build_manifest
from dpiqa.data.sources.local import find_one, relative

KONIQ_LABELS = "koniq10k_scores_and_distributions.csv"
KONIQ_SETS = {"training": "train", "validation": "val", "test": "test"}
KADID_LABELS = "dmos.csv"


def file_name(url: str) -> str:
    return Path(urlparse(url).path).name


def fetch_koniq10k(config: Koniq10kSource, staging: Path, downloads: Path, retries: int) -> None:
    for url in (config.images_url, config.labels_url, config.split_url):
        name = file_name(url)
        archive = download(url, downloads / name, sha256=config.sha256.get(name), retries=retries)
        if url == config.split_url:
            (staging / name).write_bytes(archive.read_bytes())
        else:
            extract(archive, staging)


def parse_koniq10k(root: Path, split_file_name: str) -> pd.DataFrame:
    labels = pd.read_csv(find_one(root, KONIQ_LABELS, "KonIQ-10k labels"))
    sets = pd.read_csv(find_one(root, split_file_name, "KonIQ-10k official split"))
    first = find_one(root, labels["image_name"].iloc[0], "KonIQ-10k images")
    image_dir = first.parent
    split = labels["image_name"].map(dict(zip(sets["image_name"], sets["set"].map(KONIQ_SETS))))
    return build_manifest(
        "koniq10k",
        [relative(image_dir / name, root) for name in labels["image_name"]],
        labels["MOS_zscore"],
        card("koniq10k").mos_range,
        official_split=split,
    )


def fetch_kadid10k(config: Kadid10kSource, staging: Path, downloads: Path, retries: int) -> None:
    archive = download(
        config.url,
        downloads / file_name(config.url),
        size=config.size,
        sha256=config.sha256,
        retries=retries,
    )
    extract(archive, staging)


def koniq10k(config: Koniq10kSource, staging: Path, context) -> pd.DataFrame:
    fetch_koniq10k(config, staging, context.downloads, context.retries)
    return parse_koniq10k(staging, file_name(config.split_url))


def kadid10k(config: Kadid10kSource, staging: Path, context) -> pd.DataFrame:
    fetch_kadid10k(config, staging, context.downloads, context.retries)
    return parse_kadid10k(staging)


def parse_kadid10k(root: Path) -> pd.DataFrame:
    labels_file = find_one(root, KADID_LABELS, "KADID-10k labels")
    labels = pd.read_csv(labels_file)
    image_dir = labels_file.parent / "images"
    names = card("kadid10k").distortion_names
    # File names are I<ref>_<type>_<level>.png, type and level 1-based.
    parts = labels["dist_img"].str.extract(r"_(\d+)_(\d+)\.")
    return build_manifest(
        "kadid10k",
        [relative(image_dir / name, root) for name in labels["dist_img"]],
        labels["dmos"],
        card("kadid10k").mos_range,
        mos_std=labels["var"] ** 0.5,
        ref_image=[relative(image_dir / name, root) for name in labels["ref_img"]],
        distortion=[names[int(index) - 1] for index in parts[0]],
        distortion_level=parts[1].astype(int),
    )
