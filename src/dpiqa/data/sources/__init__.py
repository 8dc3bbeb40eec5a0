"""Dataset parsers: each turns one dataset into a folder of images plus a manifest.

A dataset is its card (cards.yaml: scale, size, how it arrives, `parser`) plus the parser
the card names, registered here with `@parser`. The settings a parser reads are its dataset's
`data.sources.<key>` section, validated by the model the card's parser names (config.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dpiqa.config import DownloadView, Section
from dpiqa.data.cards import DatasetCard, card
from dpiqa.data.download import staged_directory
from dpiqa.data.sources import downloaded, embedded, manual
from dpiqa.data.sources.local import bring_in, resolve_user_path


@dataclass(frozen=True)
class SourceContext:
    """What every parser may use besides its own settings."""

    card: DatasetCard
    seed: int
    downloads: Path
    retries: int


Parse = Callable[[Section, Path, SourceContext], pd.DataFrame]
PARSERS: dict[str, Parse] = {}


def parser(name: str) -> Callable[[Parse], Parse]:
    """Register a parser under the name a card's `parser:` gives."""

    def register(parse: Parse) -> Parse:
        PARSERS[name] = parse
        return parse

    return register


def user_provided(parse: Callable[[Path, Section], pd.DataFrame]) -> Parse:
    """A manual dataset: bring in the archive or folder the user named, then parse it."""

    def fill(settings: Section, staging: Path, context: SourceContext) -> pd.DataFrame:
        bring_in(resolve_user_path(context.card, settings.path), staging)
        return parse(staging, settings)

    return fill


parser("embedded")(lambda settings, staging, context: embedded.generate(settings, staging, context.seed))
parser("koniq10k")(downloaded.koniq10k)
parser("kadid10k")(downloaded.kadid10k)
parser("clive")(user_provided(lambda root, settings: manual.parse_clive(root, settings.drop_training_images)))
parser("spaq")(user_provided(lambda root, _: manual.parse_spaq(root)))
parser("agiqa3k")(user_provided(lambda root, _: manual.parse_agiqa3k(root)))
parser("livefb")(user_provided(lambda root, _: manual.parse_livefb(root)))
parser("folder")(user_provided(manual.parse_folder))


def prepare_dataset(key: str, params: DownloadView) -> pd.DataFrame:
    """Fetch, generate or copy in dataset `key` under data.root/<key>; return its manifest.

    The folder is assembled aside and moved into place only when its labels parsed, so a
    failed or interrupted run never leaves a half-made dataset behind.
    """
    dataset = card(key)
    context = SourceContext(dataset, params.base.seed, params.runtime.downloads, params.runtime.download_retries)
    with staged_directory(params.data.dataset_dir(key)) as staging:
        return PARSERS[dataset.parser](params.source(key), staging, context)
