"""What the diffusion prior buys (issue: the paper's claim at small scale): the same teacher and
student, same split, same recipe, trained from the pretrained prior (`teacher.prior: true`) and
from random initialisation (`false`), on each split seed; test SRCC of both, with bootstrap
intervals, and the median over seeds. By hand (not a test); everything goes under --work.

    python benchmarks/prior_ablation.py --seeds 0 1 2                      # the embedded default
    python benchmarks/prior_ablation.py --dataset agiqa3k --path ../shared/datasets/agiqa3k --seeds 0 1 2

Writes reports/benchmarks/prior_ablation_<dataset>.{json,md} (or --out) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

from dpiqa.config import Params, read_settings
from dpiqa.data import datasets
from dpiqa.evaluate.protocol import train_and_evaluate
from dpiqa.evaluate.summaries import MODELS
from dpiqa.timing import cpu_name
from dpiqa.tracking.runs import StageTracker, git_commit

ARMS = {"prior": True, "random": False}


def arm_params(raw: dict, work: Path, dataset: str, seed: int, prior: bool) -> Params:
    """The pipeline's params, every output under work/<arm>/seed-<n>, training on split `seed`."""
    out = work / ("prior" if prior else "random") / f"seed-{seed}"
    raw = json.loads(json.dumps(raw))
    raw["models"]["profiles"]["tiny"]["teacher"]["prior"] = prior
    raw["train"].update(split_seed=seed, checkpoints=str(out / "checkpoints"))
    raw["pretrain_prior"].update(out=str(out / "prior"), metrics=str(out / "prior.json"), figures=str(out / "prior_figures"))
    for stage in ("train_teacher", "distill_student"):
        raw[stage].update(out=str(out / stage), metrics=str(out / f"{stage}.json"), curve=str(out / f"{stage}.csv"))
    raw["teacher_targets"]["out"] = str(out / "targets.safetensors")
    raw["encode_latents"]["out"] = str(out / "latents.safetensors")
    return Params.model_validate(raw)


def prepared(args) -> dict:
    """params.yaml pointed at the dataset, prepared (downloaded, validated, split on every seed) under --work."""
    raw = read_settings()
    key, work = args.dataset, args.work
    raw["base"]["dataset"] = key
    raw["data"]["datasets"] = raw["evaluate"]["datasets"] = [key]
    if args.path:
        raw["data"]["sources"][key]["path"] = args.path
    raw["data"].update(root=f"{work}/datasets", manifests=f"{work}/manifests")
    raw["validate"]["reports"], raw["split"]["out"] = f"{work}/validation", f"{work}/splits"
    raw["split"]["seeds"] = args.seeds
    params = Params.model_validate(raw)
    if not params.data.manifest_path(key).exists():
        for step in (datasets.download, datasets.validate):
            step(key, params)
    datasets.split(key, params)
    return raw


@contextmanager
def untracked(_: str):
    yield StageTracker(None, None)


def markdown(result: dict) -> str:
    rows = ["| split seed | arm | teacher SRCC [95% CI] | student SRCC [95% CI] | prior PSNR dB | minutes |", "|---|---|---|---|---|---|"]
    for run in result["runs"]:
        cells = [f"{run[m]['srcc']:.3f} [{run[m]['srcc_ci'][0]:.3f}, {run[m]['srcc_ci'][1]:.3f}]" for m in MODELS]
        psnr = f"{run['prior']['vae_val_psnr_db']:.1f}" if run["prior"].get("trained") else ""
        rows.append(f"| {run['seed']} | {run['arm']} | {cells[0]} | {cells[1]} | {psnr} | {run['wall_s'] / 60:.1f} |")
    for arm, medians in result["median"].items():
        rows.append(f"| median | {arm} | {medians['teacher']:.3f} | {medians['student']:.3f} | | |")
    gains = ", ".join(f"seed {seed}: {gain:+.3f}" for seed, gain in result["teacher_gain"].items()) or "no seed with both arms yet"
    cpus = ", ".join(sorted({run["cpu"] for run in result["runs"]}))
    return (f"# The diffusion prior's effect: {result['dataset']}, tiny profile ({cpus})\n\n" + "\n".join(rows)
            + f"\n\nTeacher test SRCC, prior minus random: {gains}\n" + (f"\n{result['note']}\n" if result.get("note") else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="embedded")
    parser.add_argument("--path", help="the dataset's archive or folder (datasets that are not generated)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/dpiqa-prior-ablation"))
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    args = parser.parse_args()
    raw = prepared(args)
    stem = args.out / f"prior_ablation_{args.dataset}"
    # Runs accumulate across invocations (one (seed, arm) at a time is 8-12 CPU minutes): a run
    # replaces the earlier one of its seed and arm, the rest are kept.
    runs = json.loads(stem.with_suffix(".json").read_text())["runs"] if stem.with_suffix(".json").exists() else []
    for seed in args.seeds:
        for arm in args.arms:
            params = arm_params(raw, args.work, args.dataset, seed, ARMS[arm])
            start = time.time()
            summary = train_and_evaluate(params, untracked)
            prior = json.loads(params.pretrain_prior.metrics.read_text()) if ARMS[arm] else {"trained": False}
            runs = [r for r in runs if (r["seed"], r["arm"]) != (seed, arm)]
            runs.append({"seed": seed, "arm": arm, "cpu": cpu_name(), "commit": git_commit(), "wall_s": time.time() - start, "prior": prior,
                         **{m: {k: summary[m][args.dataset][k] for k in ("srcc", "srcc_ci", "plcc")} for m in MODELS}})
            write(stem, summarise_runs(args.dataset, sorted(runs, key=lambda r: (r["seed"], r["arm"]))))
    print(stem.with_suffix(".md").read_text())


def summarise_runs(dataset: str, runs: list[dict]) -> dict:
    """Median test SRCC per arm, and the teacher's gain from the prior on each seed both arms ran."""
    arms = sorted({r["arm"] for r in runs})
    by_key = {(r["seed"], r["arm"]): r for r in runs}
    both = sorted({s for s, _ in by_key if (s, "prior") in by_key and (s, "random") in by_key})
    return {"dataset": dataset, "runs": runs,
            "median": {arm: {m: statistics.median(r[m]["srcc"] for r in runs if r["arm"] == arm) for m in MODELS}
                       for arm in arms},
            "teacher_gain": {str(s): by_key[s, "prior"]["teacher"]["srcc"] - by_key[s, "random"]["teacher"]["srcc"]
                             for s in both}}


def write(stem: Path, result: dict) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
    stem.with_suffix(".md").write_text(markdown(result))


if __name__ == "__main__":
    main()
