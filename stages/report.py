"""DVC stage `report`: reports/report.md and a self-contained reports/report.html."""

from pathlib import Path

from dpiqa.config import PARAMS_FILE, load_params
from dpiqa.data.manifest import read_manifest
from dpiqa.evaluate.report import (
    build_sections,
    load_predictions,
    prior_ablation_section,
    prior_section,
    provenance,
    read_json,
    write_report,
)
from dpiqa.runtime import run
from dpiqa.tracking.runs import git_commit, lock_hashes, pipeline_runs


def main() -> None:
    params = load_params()
    config = params.evaluate
    registry = read_json(params.register_.out)
    runs = pipeline_runs(params.tracking)
    rows, params_text = provenance(Path(PARAMS_FILE), lock_hashes(), registry, git_commit(), runs)
    labels = read_manifest(params.data.manifest_path(params.base.dataset))["label_source"]
    sections = build_sections(
        read_json(config.metrics), read_json(config.cost), load_predictions(config.predictions, config.datasets), config.figures,
        rows, params_text, synthetic=labels.str.startswith("synthetic").any(), dataset=params.base.dataset,
        seeds=[read_json(config.seeds / f"{seed}.json") for seed in params.split.seeds],
        prior=[section for section in (
            prior_section(read_json(params.pretrain_prior.metrics), params.pretrain_prior.figures),
            prior_ablation_section([read_json(path) for path in sorted(params.report.benchmarks.glob("prior_ablation_*.json"))]),
        ) if section is not None],
    )
    write_report(sections, params.report.markdown, params.report.html)


if __name__ == "__main__":
    run(main)
