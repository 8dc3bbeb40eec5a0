"""What the pretrain_prior stage reads, and its record where the active profile trains no prior.

Light (no torch, Lightning or diffusers): a profile without a prior, the embedded default's,
runs the stage without importing what training one needs (dpiqa.train.prior).
"""

from __future__ import annotations

from pathlib import Path

from dpiqa.config import Params, PretrainPriorView
from dpiqa.models.prior_record import save_no_prior
from dpiqa.strict_json import dumps_json


def prior_inputs(params: Params | PretrainPriorView) -> list[Path]:
    """The DVC outputs the prior reads (its MLflow lineage): the split's tables, or nothing DVC made."""
    params = PretrainPriorView.of(params)
    if params.pretrain_prior.source == "folder":
        return []
    return [params.data.manifest_path(params.base.dataset), params.split_file()]


def record_no_prior(params: Params | PretrainPriorView) -> dict | None:
    """The stage's outputs where the profile's teacher starts from other weights, saying why; None
    where it trains a prior."""
    params = PretrainPriorView.of(params)
    config, teacher = params.pretrain_prior, params.profile.teacher
    config.figures.mkdir(parents=True, exist_ok=True)
    config.metrics.parent.mkdir(parents=True, exist_ok=True)
    if teacher.prior:
        return None
    reason = (f"the {params.base.profile} profile's teacher starts from "
              f"{teacher.pretrained or 'random weights (teacher.prior: false)'}")
    save_no_prior(config.out, reason)
    (config.figures / "README.md").write_text(f"No prior trained: {reason}.\n")
    summary = {"trained": False}
    config.metrics.write_text(dumps_json(summary, indent=2))
    return summary
