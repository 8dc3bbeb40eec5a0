"""Dataset sources: each turns one dataset into a folder of images plus a manifest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dpiqa.config import Params
from dpiqa.data.cards import card
from dpiqa.data.download import staged_directory
from dpiqa.data.sources import downloaded, embedded, manual
from dpiqa.data.sources.local import bring_in, resolve_user_path
from dpiqa.errors import DPIQAError

Fill = Callable[[Params, Path], pd.DataFrame]


def _embedded(params: Params, staging: Path) -> pd.DataFrame:
    return embedded.generate(params.data.sources.embedded, staging, params.base.seed)


def _koniq10k(params: Params, staging: Path) -> pd.DataFrame:
    config = params.data.sources.koniq10k
    downloaded.fetch_koniq10k(config, staging, params.data.downloads, params.data.download_retries)
    return downloaded.parse_koniq10k(staging, downloaded.file_name(config.split_url))


def _kadid10k(params: Params, staging: Path) -> pd.DataFrame:
    config = params.data.sources.kadid10k
    downloaded.fetch_kadid10k(config, staging, params.data.downloads, params.data.download_retries)
    return downloaded.parse_kadid10k(staging)


def _user_provided(key: str, parse: Callable[[Path, Params], pd.DataFrame]) -> Fill:
    def fill(params: Params, staging: Path) -> pd.DataFrame:
        bring_in(resolve_user_path(card(key), params.source(key).path), staging)
        return parse(staging, params)

    return fill


SOURCES: dict[str, Fill] = {
    "embedded": _embedded,
    "koniq10k": _koniq10k,
    "kadid10k": _kadid10k,
    "clive": _user_provided(
        "clive",
        lambda root, params: manual.parse_clive(
            root, params.data.sources.clive.drop_training_images
        ),
    ),
    "spaq": _user_provided("spaq", lambda root, _: manual.parse_spaq(root)),
    "agiqa3k": _user_provided("agiqa3k", lambda root, _: manual.parse_agiqa3k(root)),
    "livefb": _user_provided("livefb", lambda root, _: manual.parse_livefb(root)),
    "folder": _user_provided(
        "folder", lambda root, params: manual.parse_folder(root, params.data.sources.folder)
    ),
}


def prepare_dataset(key: str, params: Params) -> pd.DataFrame:
    """Fetch, generate or copy in dataset `key` under data.root/<key>; return its manifest.

    The folder is assembled aside and moved into place only when its labels parsed, so a
    failed or interrupted run never leaves a half-made dataset behind.
    """
    if key not in SOURCES:
        raise DPIQAError(f"unknown dataset {key!r}; known: {', '.join(SOURCES)}")
    with staged_directory(params.data.dataset_dir(key)) as staging:
        return SOURCES[key](params, staging)
