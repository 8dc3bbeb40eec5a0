"""The data layer's entry points, one per DVC stage: prepare, validate, split a dataset.

Each imports its heavy library where it runs (piq and torch to generate, Great Expectations to
validate): a stage process loads only its own, about 5 s of start-up less for `split`."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from dpiqa.config import DownloadView, Params, SplitView, ValidateView
from dpiqa.data.cards import card, nominal_mos_range
from dpiqa.data.manifest import read_manifest, write_manifest
from dpiqa.data.splits import make_split, write_split
from dpiqa.errors import DPIQAError

if TYPE_CHECKING:
    from dpiqa.data.validation import SuiteSpec

log = logging.getLogger(__name__)


def download(key: str, params: Params | DownloadView) -> None:
    from dpiqa.data.sources import prepare_dataset

    params = DownloadView.of(params)
    manifest = prepare_dataset(key, params)
    write_manifest(manifest, params.data.manifest_path(key))
    log.info("%s: %d images, manifest %s", key, len(manifest), params.data.manifest_path(key))


def suite_spec(key: str, params: ValidateView) -> SuiteSpec:
    """The card's image count, or the one its settings imply (a generated set) when the card has none."""
    from dpiqa.data.validation import SuiteSpec

    expected = card(key).expected_count
    if expected is None:
        expected = getattr(params.source(key), "expected_count", None)
    return SuiteSpec(key, nominal_mos_range(key, params), expected, params.score.min_image_side,
                     params.score.max_image_pixels)


def validate(key: str, params: Params | ValidateView) -> dict:
    from dpiqa.data.validation import validate_manifest

    params = ValidateView.of(params)
    return validate_manifest(
        read_manifest(params.data.manifest_path(key)),
        params.data.dataset_dir(key),
        suite_spec(key, params),
        params.validate_.reports / key,
        workers=params.runtime.validate_workers,
        example_rows=params.validate_.example_rows,
    )


def split(key: str, params: Params | SplitView) -> None:
    params = SplitView.of(params)
    report = json.loads((params.validate_.reports / key / "result.json").read_text())
    if not report["success"]:
        raise DPIQAError(f"{key}: the manifest failed validation; run the validate stage")
    manifest = read_manifest(params.data.manifest_path(key))
    config = params.split
    for seed in config.seeds:
        table = make_split(
            manifest,
            seed,
            test_fraction=config.test_fraction,
            val_fraction=config.val_fraction,
            use_official=config.use_official,
            by_reference=card(key).synthetic,
        )
        write_split(table, config.split_path(key, seed))
        log.info("%s seed %d: %s", key, seed, table["split"].value_counts().to_dict())
