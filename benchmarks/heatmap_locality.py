"""Do the quality maps point at the distorted region? Local distortions on the test references.

Each pristine test reference of the embedded set gets one distortion (the generator's own, at one
level) in one quadrant only, the rest left untouched. For the trained teacher and student
(models/teacher, models/student), the quadrant whose mean score contribution
(dpiqa.evaluate.heatmaps.score_contributions) is lowest is the one the map "points at": chance is 1 in 4. Also
reported: how much lower the distorted quadrant's mean contribution is than the other three's,
in units of the map's spread (a median over images). Writes reports/benchmarks/heatmap_locality.{json,md}
and, with --pictures DIR, the overlays of the first reference for a look.

    python benchmarks/heatmap_locality.py [--level 4] [--pictures DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dpiqa.config import load_params
from dpiqa.data.images import resize_of, to_rgb
from dpiqa.data.loading import split_table
from dpiqa.data.sources.embedded import DISTORTIONS
from dpiqa.evaluate.heatmaps import contributions, render_heatmap
from dpiqa.models.export import load_pretrained
from dpiqa.timing import cpu_name

OUT = Path("reports/benchmarks")
QUADRANTS = ("top left", "top right", "bottom left", "bottom right")


def locally_distorted(pristine: Image.Image, distortion: str, amount: float, quadrant: int, seed: int) -> Image.Image:
    """`pristine` with `distortion` applied to the whole image, then pasted back into one quadrant only
    (so that filters see the real neighbourhood at the quadrant's edges)."""
    distorted = DISTORTIONS[distortion](pristine, amount, np.random.default_rng(seed))
    half_w, half_h = pristine.width // 2, pristine.height // 2
    left, top = (quadrant % 2) * half_w, (quadrant // 2) * half_h
    box = (left, top, left + half_w, top + half_h)
    result = pristine.copy()
    result.paste(distorted.crop(box), box)
    return result


def quadrant_means(contribution: np.ndarray) -> np.ndarray:
    half_h, half_w = contribution.shape[0] // 2, contribution.shape[1] // 2
    return np.array([contribution[:half_h, :half_w].mean(), contribution[:half_h, half_w:].mean(),
                     contribution[half_h:, :half_w].mean(), contribution[half_h:, half_w:].mean()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", type=int, default=4, help="distortion level, 1 (mildest) to 5")
    parser.add_argument("--pictures", type=Path, help="write the overlays of the first reference here")
    args = parser.parse_args()
    params = load_params()
    key = params.base.dataset
    if key != "embedded":
        raise SystemExit("this check needs the embedded dataset's generator (base.dataset: embedded)")
    source = params.data.sources[key]
    test = split_table(params.data.manifest_path(key), params.split_file(), "test")
    references = sorted(test.loc[test["distortion"] == "pristine", "image"])
    root = params.data.dataset_dir(key)
    rng = np.random.default_rng(params.base.seed)
    cases = []
    for index, reference in enumerate(references):
        pristine = to_rgb(root / reference)
        for distortion, amounts in source.distortions.items():
            quadrant = int(rng.integers(4))
            image = locally_distorted(pristine, distortion, amounts[args.level - 1], quadrant, index)
            cases.append({"reference": reference, "distortion": distortion, "quadrant": quadrant, "image": image})
    rows = []
    for name, folder in (("teacher", params.train_teacher.out), ("student", params.distill_student.out)):
        model, config = load_pretrained(folder)
        size, resize = config["preprocessing"]["image_size"], resize_of(config["preprocessing"])
        _, maps = contributions(model, [case["image"] for case in cases], size, params.evaluate.batch_size, resize)
        for case, contribution in zip(cases, maps):
            means = quadrant_means(contribution)
            others = np.delete(means, case["quadrant"])
            spread = contribution.std() or 1.0
            rows.append({"model": name, "distortion": case["distortion"], "reference": case["reference"],
                         "hit": bool(means.argmin() == case["quadrant"]),
                         "gap": float((others.mean() - means[case["quadrant"]]) / spread)})
        if args.pictures:
            for case, contribution in list(zip(cases, maps))[: len(source.distortions)]:
                title = f"{name}: {case['distortion']} in the {QUADRANTS[case['quadrant']]} quadrant"
                render_heatmap(case["image"], contribution, title, params.heatmaps,
                               args.pictures / f"{name}_{case['distortion']}.png")
    frame = pd.DataFrame(rows)
    table = frame.pivot_table(index="distortion", columns="model", values=["hit", "gap"],
                              aggfunc={"hit": "mean", "gap": "median"})
    table.columns = [f"{model} {'points at it' if stat == 'hit' else 'median gap'}" for stat, model in table.columns]
    overall = frame.groupby("model").agg(hit_rate=("hit", "mean"), median_gap=("gap", "median"))
    result = {"cpu": cpu_name(), "level": args.level, "references": len(references), "cases": len(cases),
              "chance": 0.25, "overall": overall.to_dict(orient="index"), "per_distortion": table.round(3).to_dict(orient="index")}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "heatmap_locality.json").write_text(json.dumps(result, indent=2))
    (OUT / "heatmap_locality.md").write_text(
        f"# Do the quality maps point at the distorted region?\n\n`python benchmarks/heatmap_locality.py --level "
        f"{args.level}`: {len(cases)} test images of the embedded set ({len(references)} pristine test references, "
        f"each distortion at level {args.level} in one random quadrant). *Points at it*: the distorted quadrant has the "
        "lowest mean score contribution (chance 0.25). *Median gap*: the other quadrants' mean contribution minus "
        "the distorted one's, in units of the map's standard deviation (> 0: the map is lower where the distortion is).\n\n"
        + overall.round(3).to_markdown() + "\n\n" + table.round(3).to_markdown() + "\n")
    print(json.dumps(result["overall"], indent=2))


if __name__ == "__main__":
    main()
