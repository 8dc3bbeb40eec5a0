"""The tiny profile on a real dataset, end to end, by hand (not a test): data stages, teacher,
teacher targets, student, then test-split SRCC/PLCC of both, beside the floor a diffusion-prior
model must clear: a from-scratch CNNIQA (Kang et al. 2014) trained on the same split for as much
wall-clock time as the teacher's training took. Everything goes under --work.

    python benchmarks/real_data_tiny.py --path ../shared/datasets/agiqa3k \
        --out reports/benchmarks/real_data_tiny_agiqa3k.json

Writes <work>/results.json (and --out) and prints it. A generated dataset needs no --path: on the
embedded default it gives the floor the default's models are held to.

    python benchmarks/real_data_tiny.py --dataset embedded \
        --out reports/benchmarks/tiny_vs_cnniqa_embedded.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from dpiqa.config import Params, read_settings
from dpiqa.data import datasets
from dpiqa.evaluate.baseline import CNNIQAConfig, predict_cnniqa, train_cnniqa
from dpiqa.evaluate.predict import predict
from dpiqa.models.export import load_pretrained
from dpiqa.timing import cpu_name
from dpiqa.tracking.runs import StageTracker, git_commit
from dpiqa.train import pipeline
from dpiqa.train.prior import pretrain_prior


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="agiqa3k")
    parser.add_argument("--path", help="the dataset's archive or folder (none for a generated dataset)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dpiqa-real-data"))
    parser.add_argument("--out", type=Path, help="also write the results here (e.g. reports/benchmarks/...)")
    args = parser.parse_args()
    raw = read_settings()
    key, work = args.dataset, args.work
    raw["base"]["dataset"] = key
    raw["data"]["datasets"] = raw["evaluate"]["datasets"] = [key]
    if args.path:
        raw["data"]["sources"][key]["path"] = args.path
    raw["data"].update(root=f"{work}/datasets", manifests=f"{work}/manifests")
    raw["validate"]["reports"], raw["split"]["out"] = f"{work}/validation", f"{work}/splits"
    raw["train"]["checkpoints"] = f"{work}/checkpoints"
    for stage in ("train_teacher", "distill_student"):
        raw[stage].update(out=f"{work}/{stage}", metrics=f"{work}/{stage}.json", curve=f"{work}/{stage}.csv")
    raw["teacher_targets"]["out"] = f"{work}/targets.safetensors"
    raw["encode_latents"]["out"] = f"{work}/latents.safetensors"
    raw["pretrain_prior"].update(out=f"{work}/prior", metrics=f"{work}/prior.json", figures=f"{work}/prior_figures")
    params = Params.model_validate(raw)
    start = time.time()
    for step in (datasets.download, datasets.validate, datasets.split):
        step(key, params)
    if params.prior_folder():  # teacher.prior: the prior learns from this split's training images first
        pretrain_prior(params, StageTracker(None, "benchmark"))
    pipeline.encode_latents(params)
    teacher_start = time.time()
    pipeline.train_teacher(params, StageTracker(None, "benchmark"))
    teacher_s = time.time() - teacher_start
    pipeline.compute_teacher_targets(params)
    pipeline.distill_student(params, StageTracker(None, "benchmark"))
    data = pipeline.datamodule(params, params.evaluate.batch_size)
    test = data.dataset("test")
    result = {"dataset": key, "cpu": cpu_name(), "commit": git_commit(), "test_images": len(test),
              "teacher_train_s": teacher_s, "wall_s": None}
    for kind, out in (("teacher", params.train_teacher.out), ("student", params.distill_student.out)):
        model, config = load_pretrained(out)
        scored = predict(model, test, params.evaluate.batch_size)
        result[kind] = {
            "test_srcc": float(spearmanr(scored["prediction"], scored["mos"]).statistic),
            "test_plcc": float(pearsonr(scored["prediction"], scored["mos"]).statistic),
            "best_val_srcc": config["training"]["best_val_srcc"],
        }
    result["cnniqa"] = cnniqa_floor(data, test, teacher_s, params.base.seed)
    result["wall_s"] = time.time() - start
    for path in filter(None, (work / "results.json", args.out)):
        path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def cnniqa_floor(data, test, budget_s: float, seed: int) -> dict:
    """CNNIQA on the same split for the teacher's training time, on patches at the images' own
    resolution (its design: the floor is stronger so than at the tiny profile's input size)."""
    def files(table):
        return [data.root / image for image in table["image"]], table["mos"].to_numpy()

    config = CNNIQAConfig()
    model, info = train_cnniqa(*files(data.dataset("train").table), *files(data.dataset("val").table),
                               config=config, time_budget_s=budget_s, seed=seed)
    images, mos = files(test.table)
    scores = np.asarray(predict_cnniqa(model, images, config))
    return {"test_srcc": float(spearmanr(scores, mos).statistic), "test_plcc": float(pearsonr(scores, mos).statistic),
            "best_val_srcc": info["best_val_srcc"], "train_s": info["wall_s"], "steps": info["steps"]}


if __name__ == "__main__":
    main()
