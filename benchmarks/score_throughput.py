"""`dpiqa score` throughput on a folder of 512x512 JPEGs: the sd15 student (EfficientNet-B7) on
each engine (PyTorch fp32, PyTorch bf16 autocast + channels_last, ONNX Runtime), and how each
engine's scores agree with fp32 on those images.

Each run is the real command in a subprocess (start-up and model loading included, as users
wait for it); the median of several runs per precision, both in the same run. Images: the
first N of a real dataset folder resized to 512x512 (`--images ../shared/datasets/agiqa3k`),
else photos shipped with scikit-image under blur and noise. The student has random weights
(no trained sd15 student exists offline); speed does not depend on them. Its BatchNorm
statistics are measured on the images first, so that its scores spread and rankings mean
something. Writes
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
import torch
from PIL import Image, ImageFilter
from scipy.stats import spearmanr

from dpiqa.config import load_params
from dpiqa.data.images import model_input, to_rgb
from dpiqa.hardware import cpu_has_native_bf16
from dpiqa.models.export import save_pretrained
from dpiqa.models.profiles import build_student
from dpiqa.scoring import IMAGE_SUFFIXES

OUT = Path("reports/benchmarks")
SIDE = 512
CALIBRATION_BATCH = 4


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


ENGINES = {  # name -> dpiqa score flags
    "PyTorch fp32": ["--engine", "torch", "--precision", "fp32"],
    "PyTorch fast path (bf16 + channels_last)": ["--engine", "torch", "--precision", "bf16"],
    "ONNX Runtime fp32": ["--engine", "onnxruntime"],
}


def score(folder: Path, model: Path, flags: list[str], out: Path) -> float:
    dpiqa = str(Path(sys.executable).parent / "dpiqa")
    start = time.perf_counter()
    subprocess.run([dpiqa, "score", str(folder), "--model", str(model), *flags, "--out", str(out)],
                   check=True, capture_output=True)
    return time.perf_counter() - start


@torch.no_grad()
def calibrate(student: torch.nn.Module, folder: Path, count: int) -> torch.nn.Module:
    """BatchNorm statistics measured on the images: a random EfficientNet left at its initial
    statistics scores every image alike (to 1e-13), and rankings could not be compared."""
    images = [torch.from_numpy(model_input(to_rgb(path), SIDE)) for path in sorted(folder.iterdir())[:count]]
    for module in student.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over all calibration batches
    student.train()
    for start in range(0, len(images), CALIBRATION_BATCH):
        student(torch.stack(images[start : start + CALIBRATION_BATCH]))
    return student.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", type=Path)
    args = parser.parse_args()
    profile = load_params().models.profiles["sd15"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        described = make_images(tmp / "images", args.count, args.images)
        student = calibrate(build_student(profile, seed=0, imagenet_weights=False), tmp / "images", args.count)
        save_pretrained(student, tmp / "student", image_size=profile.image_size,
                        training={"profile": "sd15", "dataset": "benchmark", "mos_range": [0, 100], "seed": 0})
        result = {"images": described, "side": SIDE, "runs": args.runs, "native_bf16": cpu_has_native_bf16(),
                  "batch_size": load_params().score.batch_size, "engines": {}}
        scores = {}
        for name, flags in ENGINES.items():
            median = statistics.median(score(tmp / "images", tmp / "student", flags, tmp / "scores.csv")
                                       for _ in range(args.runs))
            result["engines"][name] = {"wall_s": median, "images_per_s": args.count / median}
            scores[name] = pd.read_csv(tmp / "scores.csv")["score"].to_numpy()
            print(name, result["engines"][name], flush=True)
    reference = scores["PyTorch fp32"]
    result["fp32_score_std"] = float(reference.std())
    for name, values in scores.items():
        result["engines"][name]["srcc_vs_fp32"] = float(spearmanr(reference, values).statistic)
        result["engines"][name]["max_abs_difference_vs_fp32"] = float(np.abs(values - reference).max())
    base = result["engines"]["PyTorch fp32"]["wall_s"]
    for entry in result["engines"].values():
        entry["speedup_over_fp32"] = base / entry["wall_s"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "score_throughput.json").write_text(json.dumps(result, indent=2))
    lines = [f"# `dpiqa score` throughput: sd15 student (B7, random weights, BatchNorm calibrated on the images), "
             f"{result['images']}, resized to {SIDE}x{SIDE} JPEG (median of {args.runs}, whole command incl. start-up)", "",
             "| engine | wall s | images/s | vs fp32 | SRCC vs fp32 | max abs diff vs fp32 |", "|---|---|---|---|---|---|",
             *(f"| {name} | {m['wall_s']:.1f} | {m['images_per_s']:.2f} | {m['speedup_over_fp32']:.2f}x | "
               f"{m['srcc_vs_fp32']:.4f} | {m['max_abs_difference_vs_fp32']:.2e} |" for name, m in result["engines"].items()),
             "", f"Scores under fp32 spread with std {result['fp32_score_std']:.3g}."]
    (OUT / "score_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
