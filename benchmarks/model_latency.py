"""Parameters and per-image CPU latency of the sd15-config teacher vs the B7 student.

Random weights (latency does not depend on them); batch 1 and 8; fp32 and the scoring fast path
(bf16 autocast + channels_last); median of several runs; ratios from the same run. Writes
reports/benchmarks/model_latency.{json,md}.

    python benchmarks/model_latency.py [--runs 3] [--profile sd15] [--batches 1 8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dpiqa.config import load_params
from dpiqa.hardware import cpu_has_native_bf16
from dpiqa.models.profiles import build_student, build_teacher_architecture
from dpiqa.timing import cpu_name, median_seconds

OUT = Path("reports/benchmarks")


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.inference_mode()
def median_latency(model: torch.nn.Module, images: torch.Tensor, runs: int, fast: bool) -> float:
    if fast:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
        seconds = median_seconds(lambda: model(images), runs)
    model.to(memory_format=torch.contiguous_format)
    return seconds / images.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", default="sd15")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    profile = load_params().models.profiles[args.profile]
    models = {
        "teacher": build_teacher_architecture(profile, device="cpu").eval(),
        "student": build_student(profile, seed=0, imagenet_weights=False).eval(),
    }
    result = {
        "profile": args.profile,
        "image_size": profile.image_size,
        "runs": args.runs,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_name(),
        "native_bf16": cpu_has_native_bf16(),
        "parameters": {name: _count(model) for name, model in models.items()},
        "seconds_per_image": {},
    }
    for batch in args.batches:
        images = torch.rand(batch, 3, profile.image_size, profile.image_size)
        for name, model in models.items():
            for path, fast in (("fp32", False), ("fast", True)):
                key = f"{name}/batch{batch}/{path}"
                result["seconds_per_image"][key] = median_latency(model, images, args.runs, fast=fast)
                print(key, f"{result['seconds_per_image'][key]:.4f}", flush=True)
    latency = result["seconds_per_image"]
    result["ratios"] = {"parameters_teacher_over_student": result["parameters"]["teacher"] / result["parameters"]["student"]}
    for batch in args.batches:
        for path in ("fp32", "fast"):
            result["ratios"][f"latency_teacher_over_student/batch{batch}/{path}"] = (
                latency[f"teacher/batch{batch}/{path}"] / latency[f"student/batch{batch}/{path}"])
        for name in models:
            result["ratios"][f"{name}_fast_speedup/batch{batch}"] = (
                latency[f"{name}/batch{batch}/fp32"] / latency[f"{name}/batch{batch}/fast"])
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "model_latency.json").write_text(json.dumps(result, indent=2))
    rows = [
        "| model | parameters | batch | fp32 s/image | fast path s/image | fast speed-up |",
        "|---|---|---|---|---|---|",
        *(f"| {name} | {result['parameters'][name] / 1e6:.1f}M | {batch} | {latency[f'{name}/batch{batch}/fp32']:.3f} | "
          f"{latency[f'{name}/batch{batch}/fast']:.3f} | {result['ratios'][f'{name}_fast_speedup/batch{batch}']:.2f}x |"
          for batch in args.batches for name in models),
        "",
        f"- parameters, teacher / student: {result['ratios']['parameters_teacher_over_student']:.2f}x (paper: about 14x)",
        *(f"- latency, teacher / student, batch {batch}, {path}: "
          f"{result['ratios'][f'latency_teacher_over_student/batch{batch}/{path}']:.2f}x (paper: about 3x, on a GPU)"
          for batch in args.batches for path in ("fp32", "fast")),
    ]
    (OUT / "model_latency.md").write_text(
        f"# Teacher vs student on this CPU ({args.profile}, random weights, {result['threads']} threads, "
        f"median of {args.runs}; fast path = bf16 autocast + channels_last)\n\n" + "\n".join(rows) + "\n"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
