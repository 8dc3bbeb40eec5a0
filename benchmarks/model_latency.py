"""Parameters and per-image CPU latency of the sd15-config teacher vs the B7 student.

Random weights (latency does not depend on them); batch 1; fp32 and bf16 autocast +
channels_last; median of several runs; ratios from the same run. Writes
reports/benchmarks/model_latency.{json,md}.

    python benchmarks/model_latency.py [--runs 5] [--profile sd15]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from dpiqa.config import load_params
from dpiqa.models.profiles import build_student, build_teacher_architecture

OUT = Path("reports/benchmarks")


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.inference_mode()
def median_latency(model: torch.nn.Module, images: torch.Tensor, runs: int, fast: bool) -> float:
    if fast:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
        model(images)  # warm-up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(images)
            times.append(time.perf_counter() - start)
    return statistics.median(times) / images.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", default="sd15")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    profile = load_params().models.profiles[args.profile]
    images = torch.rand(args.batch, 3, profile.image_size, profile.image_size)
    models = {
        "teacher": build_teacher_architecture(profile, device="cpu").eval(),
        "student": build_student(profile, seed=0, imagenet_weights=False).eval(),
    }
    result = {
        "profile": args.profile,
        "image_size": profile.image_size,
        "batch": args.batch,
        "runs": args.runs,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "models": {},
    }
    for name, model in models.items():
        result["models"][name] = {
            "parameters": _count(model),
            "fp32_s": median_latency(model, images, args.runs, fast=False),
            "bf16_channels_last_s": median_latency(model, images, args.runs, fast=True),
        }
        print(name, result["models"][name], flush=True)
    teacher, student = result["models"]["teacher"], result["models"]["student"]
    result["ratios"] = {
        "parameters_teacher_over_student": teacher["parameters"] / student["parameters"],
        "latency_teacher_over_student_fp32": teacher["fp32_s"] / student["fp32_s"],
        "latency_teacher_over_student_bf16": teacher["bf16_channels_last_s"] / student["bf16_channels_last_s"],
        "teacher_bf16_speedup": teacher["fp32_s"] / teacher["bf16_channels_last_s"],
        "student_bf16_speedup": student["fp32_s"] / student["bf16_channels_last_s"],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "model_latency.json").write_text(json.dumps(result, indent=2))
    rows = [
        "| model | parameters | fp32 s/image | bf16+channels_last s/image |",
        "|---|---|---|---|",
        *(f"| {n} | {m['parameters'] / 1e6:.1f}M | {m['fp32_s']:.3f} | {m['bf16_channels_last_s']:.3f} |"
          for n, m in result["models"].items()),
        "",
        *(f"- {k}: {v:.2f}" for k, v in result["ratios"].items()),
    ]
    (OUT / "model_latency.md").write_text(
        f"# Teacher vs student latency ({args.profile}, batch {args.batch}, {result['threads']} threads, "
        f"median of {args.runs})\n\n" + "\n".join(rows) + "\n"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
