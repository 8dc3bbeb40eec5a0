"""`dpiqa score` throughput on a folder of 512x512 JPEGs: the sd15 student (EfficientNet-B7),
fast path (bf16 autocast + channels_last) vs fp32, and their agreement.

Each run is the real command in a subprocess (start-up and model loading included, as users
wait for it); the median of several runs per precision, both in the same run. Images: the
first N of a real dataset folder resized to 512x512 (`--images ../shared/datasets/agiqa3k`),
else photos shipped with scikit-image under blur and noise. The student has random weights
(no trained sd15 student exists offline); speed does not depend on them. Writes
reports/benchmarks/score_throughput.{json,md}.

    python benchmarks/score_throughput.py [--count 64] [--runs 3] [--images DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter
from scipy.stats import spearmanr

from dpiqa.config import load_params
from dpiqa.models.export import save_model
from dpiqa.models.profiles import build_student
from dpiqa.scoring import IMAGE_SUFFIXES, cpu_has_native_bf16

OUT = Path("reports/benchmarks")
SIDE = 512


def make_images(folder: Path, count: int, source: Path | None) -> str:
    folder.mkdir(parents=True)
    if source:
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:count]
        for i, path in enumerate(files):
            Image.open(path).convert("RGB").resize((SIDE, SIDE), Image.BICUBIC).save(folder / f"{i:04d}.jpg", quality=90)
        return f"{len(files)} images of {source}"
    from skimage import data

    photos = [Image.fromarray(getattr(data, n)()).convert("RGB").resize((SIDE, SIDE)) for n in ("astronaut", "coffee", "chelsea", "rocket")]
    rng = np.random.default_rng(0)
    for i in range(count):
        level = i / max(count - 1, 1)
        image = np.asarray(photos[i % 4].filter(ImageFilter.GaussianBlur(4 * level)), dtype=float)
        image = (image + rng.normal(0, 30 * level, image.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"{i:04d}.jpg", quality=90)
    return f"{count} scikit-image photos, blurred and noised"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", type=Path)
    args = parser.parse_args()
    profile = load_params().models.profiles["sd15"]
    dpiqa = str(Path(sys.executable).parent / "dpiqa")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        described = make_images(tmp / "images", args.count, args.images)
        save_model(build_student(profile, seed=0, imagenet_weights=False), tmp / "student", profile,
                   profile_name="sd15", dataset="benchmark", mos_range=[0, 100], seed=0)
        result = {"images": described, "side": SIDE, "runs": args.runs, "native_bf16": cpu_has_native_bf16(),
                  "batch_size": load_params().score.batch_size, "precisions": {}}
        scores = {}
        for precision in ("fp32", "bf16"):
            times = []
            for _ in range(args.runs):
                out = tmp / f"{precision}.csv"
                start = time.perf_counter()
                subprocess.run([dpiqa, "score", str(tmp / "images"), "--model", str(tmp / "student"),
                                "--precision", precision, "--out", str(out)], check=True, capture_output=True)
                times.append(time.perf_counter() - start)
            scores[precision] = pd.read_csv(out)["score"].to_numpy()
            median = statistics.median(times)
            result["precisions"][precision] = {"wall_s": median, "images_per_s": args.count / median}
            print(precision, result["precisions"][precision], flush=True)
    fp32, fast = result["precisions"]["fp32"], result["precisions"]["bf16"]
    result["speedup_fast_over_fp32"] = fp32["wall_s"] / fast["wall_s"]
    result["srcc_fast_vs_fp32"] = float(spearmanr(scores["fp32"], scores["bf16"]).statistic)
    result["max_abs_score_difference"] = float(np.abs(scores["fp32"] - scores["bf16"]).max())
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "score_throughput.json").write_text(json.dumps(result, indent=2))
    lines = [f"# `dpiqa score` throughput: sd15 student (B7), {result['images']}, {SIDE}x{SIDE} JPEG "
             f"(median of {args.runs}, whole command)", "",
             "| precision | wall s | images/s |", "|---|---|---|",
             *(f"| {name} | {m['wall_s']:.1f} | {m['images_per_s']:.2f} |" for name, m in result["precisions"].items()),
             "", f"- fast path (bf16 + channels_last) over fp32: {result['speedup_fast_over_fp32']:.2f}x",
             f"- SRCC between the two precisions' scores: {result['srcc_fast_vs_fp32']:.4f} "
             f"(largest score difference {result['max_abs_score_difference']:.4f} on [0, 1])"]
    (OUT / "score_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
