"""The tiny profile on a real dataset, end to end, by hand (not a test): data stages, teacher,
teacher targets, student, then test-split SRCC/PLCC of both. Everything goes under --work.

    python benchmarks/real_data_tiny.py --path ../shared/datasets/agiqa3k   # about 18 min here

Writes <work>/results.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml
from scipy.stats import pearsonr, spearmanr

from dpiqa.config import Params
from dpiqa.data import datasets
from dpiqa.evaluate.predict import predict
from dpiqa.models.export import load_model
from dpiqa.tracking.runs import StageTracker
from dpiqa.train import pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="agiqa3k")
    parser.add_argument("--path", required=True, help="the dataset's archive or folder")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dpiqa-real-data"))
    args = parser.parse_args()
    raw = yaml.safe_load(Path("params.yaml").read_text())
    key, work = args.dataset, args.work
    raw["base"]["dataset"] = key
    raw["data"]["datasets"] = raw["evaluate"]["datasets"] = [key]
    raw["data"]["sources"][key]["path"] = args.path
    raw["data"].update(root=f"{work}/datasets", manifests=f"{work}/manifests")
    raw["validate"]["reports"], raw["split"]["out"] = f"{work}/validation", f"{work}/splits"
    raw["train"]["checkpoints"] = f"{work}/checkpoints"
    for stage in ("train_teacher", "distill_student"):
        raw[stage].update(out=f"{work}/{stage}", metrics=f"{work}/{stage}.json", curve=f"{work}/{stage}.csv")
    raw["teacher_targets"]["out"] = f"{work}/targets.safetensors"
    params = Params.model_validate(raw)
    start = time.time()
    for step in (datasets.download, datasets.validate, datasets.split):
        step(key, params)
    pipeline.train_teacher(params, StageTracker(None, "benchmark"))
    pipeline.compute_teacher_targets(params)
    pipeline.distill_student(params, StageTracker(None, "benchmark"))
    test = pipeline.datamodule(params, params.evaluate.batch_size).dataset("test")
    result = {"dataset": key, "test_images": len(test), "wall_s": None}
    for kind, out in (("teacher", params.train_teacher.out), ("student", params.distill_student.out)):
        model, info = load_model(out)
        scored = predict(model, test, params.evaluate.batch_size)
        result[kind] = {
            "test_srcc": float(spearmanr(scored["prediction"], scored["mos"]).statistic),
            "test_plcc": float(pearsonr(scored["prediction"], scored["mos"]).statistic),
            "best_val_srcc": info["best_val_srcc"],
        }
    result["wall_s"] = time.time() - start
    (work / "results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
