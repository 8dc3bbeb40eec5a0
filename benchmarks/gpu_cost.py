"""What a profile costs on one GPU: training step time and peak memory of the teacher (VAE in the
step, from cached latents, and with the U-Net's gradient checkpointing) and of the student (teacher
maps cached, and computed online as the authors do), inference latency (batch 1) and throughput
(batch 32), and the hours of a KonIQ-10k run.

Random weights in the profile's architecture (cost does not depend on them); the profile's recipes
give batch sizes and epochs, train.precision its GPU precision. Writes
reports/benchmarks/gpu_cost_<profile>.{json,md}. Without a GPU it prints what it would measure and
exits; `--device cpu` runs it anyway (small profiles: a smoke test of the script, not a GPU figure).

    python benchmarks/gpu_cost.py [--profile sd15] [--steps 10] [--warmup 3]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from dpiqa.config import load_params
from dpiqa.hardware import resolve_precision
from dpiqa.models.profiles import build_student, build_teacher_architecture
from dpiqa.timing import cpu_name

OUT = Path("reports/benchmarks")
KONIQ_TRAIN_IMAGES = 7058  # the official split's training set (subpic/koniq metadata)
PLAN = """Would measure, for the {profile} profile on one GPU ({precision}):
- teacher training step at batch {teacher_batch}: VAE in the step, from cached latents, and with
  train.gradient_checkpointing: seconds per step and peak GPU memory
- student training step at batch {student_batch} (score + map loss), maps cached and computed online
  by the frozen teacher (teacher_targets.mode): seconds and peak memory
- inference: batch 1 latency and batch 32 images/s, teacher and student
- hours of a KonIQ-10k run: {teacher_epochs} teacher + {student_epochs} student epochs over {images} training images
No GPU here (torch.cuda.is_available() is False): run it on a GPU machine, or pass --device cpu."""


def _synchronised(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def timed(action: Callable[[], object], device: torch.device, steps: int, warmup: int) -> dict[str, float]:
    """Median seconds per call and peak memory (GiB, GPU only) of `steps` calls after `warmup`."""
    sync = _synchronised(device)
    for _ in range(warmup):
        action()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        action()
        sync()
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    result = {"seconds": seconds[len(seconds) // 2]}
    if device.type == "cuda":
        result["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


def _autocast(device: torch.device, precision: str):
    if precision.startswith("16"):
        return torch.autocast(device.type, dtype=torch.float16)
    if precision.startswith("bf16"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def training_step(model, images, target, precision, device, extra_inputs: dict | None = None,
                  map_target: torch.Tensor | None = None) -> Callable[[], None]:
    """One optimiser step as the training stages take it (Adam, MSE, mixed precision)."""
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.startswith("16") and device.type == "cuda")

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with _autocast(device, precision):
            score, quality_map = model(images, **(extra_inputs or {}))
            loss = F.mse_loss(score.float(), target)
            if map_target is not None:
                loss = loss + F.mse_loss(quality_map.float(), map_target)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()

    return step


def koniq_hours(teacher_step_s: float, student_step_s: float, teacher_batch: int, student_batch: int,
                teacher_epochs: int, student_epochs: int, images: int = KONIQ_TRAIN_IMAGES) -> float:
    """Training time of both models on KonIQ-10k's training split, validation passes excluded."""
    teacher = math.ceil(images / teacher_batch) * teacher_epochs * teacher_step_s
    student = math.ceil(images / student_batch) * student_epochs * student_step_s
    return (teacher + student) / 3600


def measure(profile_name: str, device: torch.device, steps: int, warmup: int) -> dict:
    params = load_params()
    profile = params.models.profiles[profile_name]
    teacher_recipe = params.train_teacher.recipe(profile_name, "koniq10k")
    student_recipe = params.distill_student.recipe(profile_name, "koniq10k")
    kind = "gpu" if device.type == "cuda" else "cpu"
    precision = resolve_precision(params.train.precision[profile_name][kind], kind)
    size = profile.image_size
    teacher = build_teacher_architecture(profile, device=device.type).train()
    student = build_student(profile, seed=0, imagenet_weights=False).to(device).train()
    result = {"profile": profile_name, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
              "precision": precision, "torch": torch.__version__, "image_size": size, "steps": steps,
              "teacher_batch": teacher_recipe.batch_size, "student_batch": student_recipe.batch_size, "train": {}}

    images = torch.rand(teacher_recipe.batch_size, 3, size, size, device=device)
    target = torch.rand(teacher_recipe.batch_size, device=device)
    with torch.no_grad():
        posterior = teacher.posterior(images)
    result["train"]["teacher"] = timed(training_step(teacher, images, target, precision, device), device, steps, warmup)
    result["train"]["teacher_cached_latents"] = timed(
        training_step(teacher, images, target, precision, device, {"posterior": posterior}), device, steps, warmup)
    teacher.unet.enable_gradient_checkpointing()
    result["train"]["teacher_gradient_checkpointing"] = timed(
        training_step(teacher, images, target, precision, device), device, steps, warmup)
    teacher.unet.disable_gradient_checkpointing()

    student_images = torch.rand(student_recipe.batch_size, 3, size, size, device=device)
    with torch.no_grad():
        maps = teacher.eval()(student_images)[1].float()
    student_target = torch.rand(len(student_images), device=device)
    result["train"]["student"] = timed(
        training_step(student, student_images, student_target, precision, device, map_target=maps),
        device, steps, warmup)
    cached_step = training_step(student, student_images, student_target, precision, device, map_target=maps)

    def online_step() -> None:  # teacher_targets.mode online: the frozen teacher maps the batch first
        with torch.no_grad(), _autocast(device, precision):
            teacher(student_images)
        cached_step()

    result["train"]["student_online_targets"] = timed(online_step, device, steps, warmup)

    result["inference"] = {}
    for name, model in (("teacher", teacher.eval()), ("student", student.eval())):
        for batch in (1, 32):
            batch_images = torch.rand(batch, 3, size, size, device=device)
            with torch.inference_mode(), _autocast(device, precision if name == "teacher" else "32"):
                seconds = timed(lambda model=model, images=batch_images: model(images), device, steps, warmup)["seconds"]
            result["inference"][f"{name}/batch{batch}"] = {"seconds": seconds, "images_per_s": batch / seconds}
    result["koniq10k_hours"] = koniq_hours(
        result["train"]["teacher_cached_latents"]["seconds"], result["train"]["student"]["seconds"],
        teacher_recipe.batch_size, student_recipe.batch_size, teacher_recipe.epochs, student_recipe.epochs)
    return result


def markdown(result: dict) -> str:
    rows = ["| what | batch | seconds | peak GiB |", "|---|---|---|---|"]
    for name, cost in result["train"].items():
        batch = result["student_batch"] if name.startswith("student") else result["teacher_batch"]
        peak = f"{cost['peak_gib']:.1f}" if "peak_gib" in cost else "n/a"
        rows.append(f"| train step: {name.replace('_', ' ')} | {batch} | {cost['seconds']:.3f} | {peak} |")
    for name, cost in result["inference"].items():
        model, batch = name.split("/batch")
        rows.append(f"| inference: {model} ({cost['images_per_s']:.0f} images/s) | {batch} | {cost['seconds']:.4f} | |")
    return (f"# What the {result['profile']} profile costs on {result['device']} ({result['precision']}, "
            f"median of {result['steps']} steps)\n\n" + "\n".join(rows) +
            f"\n\nKonIQ-10k ({KONIQ_TRAIN_IMAGES} training images, teacher from cached latents, validation excluded): "
            f"{result['koniq10k_hours']:.1f} h\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="sd15")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cuda", help="cuda (default) | cpu")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        params = load_params()
        teacher, student = (params.train_teacher.recipe(args.profile, "koniq10k"),
                            params.distill_student.recipe(args.profile, "koniq10k"))
        print(PLAN.format(profile=args.profile, precision=params.train.precision[args.profile]["gpu"],
                          teacher_batch=teacher.batch_size, student_batch=student.batch_size,
                          teacher_epochs=teacher.epochs, student_epochs=student.epochs, images=KONIQ_TRAIN_IMAGES))
        return
    result = measure(args.profile, torch.device(args.device), args.steps, args.warmup)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"gpu_cost_{args.profile}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
