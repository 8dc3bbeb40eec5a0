"""How long a user waits for `dpiqa`: start-up apart from per-image time.

Each measurement is the real command in a fresh subprocess (median of several runs):
`dpiqa --help`; `dpiqa score` of 2 images with the local student folder on ONNX Runtime (the
default engine for a student: no torch import) and on PyTorch; the same from the MLflow registry
(`--model models:/dpiqa-student@challenger`, after `dvc repro`). Per-image time is the slope
between scoring 2 and `--count` images, so start-up and model loading cancel out.
Needs the trained student of `dvc repro` (models/student, mlflow.db). Writes
reports/benchmarks/cli_startup.{json,md}.

    python benchmarks/cli_startup.py [--count 64] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from dpiqa.config import load_params
from dpiqa.timing import cpu_name, median_seconds

OUT = Path("reports/benchmarks")
DPIQA = str(Path(sys.executable).parent / "dpiqa")


def write_images(folder: Path, count: int, side: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        path = folder / f"{index:04d}.png"
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def command_seconds(arguments: list[str], runs: int) -> float:
    return median_seconds(lambda: subprocess.run([DPIQA, *arguments], check=True, capture_output=True), runs, warmup=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--student", type=Path, default=Path("models/student"))
    parser.add_argument("--registered", default="models:/dpiqa-student@challenger")
    args = parser.parse_args()
    side = load_params().profile.image_size
    result: dict = {"cpu": cpu_name(), "runs": args.runs, "count": args.count, "image_side": side, "seconds": {}}
    seconds = result["seconds"]
    seconds["dpiqa --help"] = command_seconds(["--help"], args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        images = write_images(Path(tmp), args.count, side)
        for name, model, flags in (
            ("local ONNX", str(args.student), []),
            ("local PyTorch", str(args.student), ["--engine", "torch"]),
            ("registry ONNX", args.registered, []),
        ):
            two = command_seconds(["score", *images[:2], "--model", model, *flags, "--out", f"{tmp}/s.json"], args.runs)
            many = command_seconds(["score", *images, "--model", model, *flags, "--out", f"{tmp}/s.json"], args.runs)
            seconds[f"score 2 images, {name}"] = two
            seconds[f"per image, {name}"] = (many - two) / (args.count - 2)
            print(name, two, seconds[f"per image, {name}"], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "cli_startup.json").write_text(json.dumps(result, indent=2))
    lines = [f"# `dpiqa` start-up and per-image time ({result['cpu']}, median of {args.runs}, "
             f"{side}x{side} PNGs; per image: slope between 2 and {args.count} images)", "",
             "| command | seconds |", "|---|---|", *(f"| {k} | {v:.3f} |" for k, v in seconds.items())]
    (OUT / "cli_startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
