"""Great Expectations suite run on every manifest, including facts about each image file.

The suite checks the table (columns, nulls, score ranges, unique images, expected size) and,
per row, facts computed from the file (inside the dataset folder, exists, decodes, converts to
RGB, big enough). Results land as JSON and Data Docs HTML; a failure raises with a summary that
names each failed expectation and example rows.
"""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.data_context.types.base import ProgressBarsConfig
from PIL import Image

from dpiqa.data.images import to_rgb
from dpiqa.data.manifest import REQUIRED
from dpiqa.errors import DPIQAError
from dpiqa.offline import offline_data_docs
from dpiqa.strict_json import dumps_json

FACT_COLUMNS = ["inside_root", "file_exists", "decodes", "rgb_convertible", "min_side", "image_error"]
IMAGE_CHUNK = 64


class ManifestValidationError(DPIQAError):
    """Failed expectations, with example rows."""


@dataclass(frozen=True)
class SuiteSpec:
    """What a manifest must satisfy: its dataset's nominal scale and size, and image limits."""

    dataset: str
    mos_range: tuple[float, float]
    expected_count: int | None
    min_image_side: int
    max_image_pixels: int


def _inspect(path: Path, max_pixels: int) -> dict:
    """`decodes`: the format is recognised; `rgb_convertible`: the training decoder (to_rgb)
    turns it into upright RGB pixels."""
    facts = {"file_exists": path.is_file(), "decodes": False, "rgb_convertible": False}
    facts.update(min_side=None, image_error=None)
    if not facts["file_exists"]:
        facts["image_error"] = "file not found"
        return facts
    try:
        with Image.open(path):
            facts["decodes"] = True
        rgb = to_rgb(path, max_pixels=max_pixels)
        facts["rgb_convertible"] = True
        facts["min_side"] = min(rgb.size)
    except Exception as error:  # any decoder failure is a fact about this row, not a crash
        facts["image_error"] = f"{type(error).__name__}: {error}"
    return facts


def image_facts(images: pd.Series, root: Path, workers: int, max_pixels: int) -> pd.DataFrame:
    """Per-row facts about the image files; paths escaping `root` are never opened."""
    resolved_root = root.resolve()
    paths = [root / str(image) for image in images]
    inside = [p.resolve().is_relative_to(resolved_root) for p in paths]
    to_open = [p for p, ok in zip(paths, inside) if ok]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        opened = iter(list(pool.map(partial(_inspect, max_pixels=max_pixels), to_open, chunksize=IMAGE_CHUNK)))
    escaped = {"file_exists": False, "decodes": False, "rgb_convertible": False,
               "min_side": None, "image_error": "path escapes the dataset folder"}
    rows = [next(opened) if ok else escaped for ok in inside]
    facts = pd.DataFrame(rows, index=images.index)
    facts.insert(0, "inside_root", inside)
    return facts[FACT_COLUMNS]


def build_suite(spec: SuiteSpec) -> gx.ExpectationSuite:
    low, high = spec.mos_range
    expectations = [gxe.ExpectColumnToExist(column=column) for column in REQUIRED]
    expectations += [gxe.ExpectColumnValuesToNotBeNull(column=column) for column in REQUIRED]
    expectations += [
        gxe.ExpectColumnValuesToBeBetween(column="mos", min_value=0, max_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="mos_raw", min_value=low, max_value=high),
        gxe.ExpectColumnValuesToBeUnique(column="image"),
        gxe.ExpectColumnValuesToBeInSet(column="dataset", value_set=[spec.dataset]),
        gxe.ExpectColumnValuesToBeInSet(column="official_split", value_set=["train", "val", "test"]),
    ]
    expectations += [
        gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True])
        for column in ("inside_root", "file_exists", "decodes", "rgb_convertible")
    ]
    expectations.append(
        gxe.ExpectColumnValuesToBeBetween(column="min_side", min_value=spec.min_image_side)
    )
    if spec.expected_count is not None:
        expectations.append(gxe.ExpectTableRowCountToEqual(value=spec.expected_count))
    suite = gx.ExpectationSuite(name=f"{spec.dataset}_manifest")
    for expectation in expectations:
        suite.add_expectation(expectation)
    return suite


def _describe(result, frame: pd.DataFrame, example_rows: int) -> dict:
    config = result.expectation_config
    details = result.result or {}
    failure = {
        "expectation": config.type,
        "column": config.kwargs.get("column"),
        "unexpected_count": details.get("unexpected_count"),
        "observed_value": details.get("observed_value"),
        "examples": [],
    }
    if result.exception_info and result.exception_info.get("raised_exception"):
        failure["error"] = result.exception_info.get("exception_message")
    for index in (details.get("unexpected_index_list") or [])[:example_rows]:
        row = frame.loc[index["index"]] if "index" in index else None
        example = {key: value for key, value in index.items() if key != "index"}
        if row is not None and pd.notna(row.get("image_error")):
            example["image_error"] = row["image_error"]
        failure["examples"].append(example)
    return failure


def _summary(dataset: str, failures: list[dict], checked: int) -> str:
    lines = [f"{dataset}: {len(failures)} of {checked} expectations failed"]
    for failure in failures:
        what = failure["expectation"] + (f" on {failure['column']!r}" if failure["column"] else "")
        count = failure["unexpected_count"]
        detail = f"{count} rows" if count is not None else f"observed {failure['observed_value']}"
        if failure.get("error"):
            detail = failure["error"]
        lines.append(f"  - {what}: {detail}")
        lines += [f"      e.g. {json.dumps(example, default=str)}" for example in failure["examples"]]
    return "\n".join(lines)


def validate_manifest(
    manifest: pd.DataFrame,
    root: Path,
    spec: SuiteSpec,
    report_dir: Path,
    *,
    workers: int = 1,
    example_rows: int = 5,
) -> dict:
    """Run the suite; write result.json and Data Docs (opening offline) into `report_dir`; raise on failure."""
    frame = manifest.reset_index(drop=True).copy()
    frame["index"] = frame.index
    if "image" in frame:
        frame = frame.join(image_facts(frame["image"], root, workers, spec.max_image_pixels))
    report_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as project:
        context = gx.get_context(mode="file", project_root_dir=project)
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.add_data_docs_site(
            site_name="dpiqa",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str((report_dir / "data_docs").resolve()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        batch = (
            context.data_sources.add_pandas("manifests")
            .add_dataframe_asset(spec.dataset)
            .add_batch_definition_whole_dataframe("manifest")
        )
        suite = context.suites.add(build_suite(spec))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{spec.dataset}_manifest", data=batch, suite=suite)
        )
        identifying = ["index", "image"] if "image" in frame else ["index"]
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"validate_{spec.dataset}",
                validation_definitions=[definition],
                actions=[UpdateDataDocsAction(name="data_docs")],
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": identifying,
                },
            )
        )
        outcome = checkpoint.run(batch_parameters={"dataframe": frame})
    offline_data_docs(report_dir / "data_docs")
    (validation,) = outcome.run_results.values()
    failures = [_describe(r, frame, example_rows) for r in validation.results if not r.success]
    report = {
        "dataset": spec.dataset,
        "success": bool(validation.success),
        "rows": len(frame),
        "expectations": len(validation.results),
        "failures": failures,
        "summary": _summary(spec.dataset, failures, len(validation.results)) if failures else "ok",
        "great_expectations": validation.to_json_dict(),
    }
    (report_dir / "result.json").write_text(dumps_json(report, indent=2, default=str))
    if failures:
        raise ManifestValidationError(report["summary"])
    return report
