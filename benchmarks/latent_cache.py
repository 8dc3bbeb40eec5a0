"""Teacher training with and without the latent cache (encode_latents stage), as a ratio.

Two measurements, each the median of several runs, cached and uncached in the same run:

- `tiny`: one real Lightning epoch (train + validation, data loading included) of the tiny
  teacher on the prepared embedded dataset (`dvc repro split@embedded` first).
- `sd15`: the paper-scale teacher (random weights, bf16 autocast + channels_last as trained on
  this CPU): one optimiser step on a batch and one validation forward, with the VAE encoder run
  or its posterior given (plain SGD step); the epoch ratio follows for KonIQ-10k's split (7,058 train / 1,000
  val at batch 16). Writes reports/benchmarks/latent_cache.{json,md}.

    python benchmarks/latent_cache.py [--runs 3] [--sd15-batch 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import lightning as L
import torch

from dpiqa.config import load_params
from dpiqa.models.profiles import build_teacher, build_teacher_architecture
from dpiqa.timing import median_seconds
from dpiqa.train.modules import TeacherModule
from dpiqa.train.pipeline import datamodule, encode_latents

OUT = Path("reports/benchmarks")
KONIQ_TRAIN, KONIQ_VAL, KONIQ_BATCH = 7058, 1000, 16


def tiny_epoch(runs: int) -> dict:
    recipe = load_params().train_teacher.recipes["tiny"]
    with tempfile.TemporaryDirectory() as tmp:
        params = load_params()
        out = Path(tmp) / "latents.safetensors"
        params = params.model_copy(update={"encode_latents": params.encode_latents.model_copy(update={"out": out})})
        encode_seconds = median_seconds(lambda: encode_latents(params), 1, warmup=0)

        def epoch(cache: Path | None) -> None:
            teacher = build_teacher(params.profile, params.models.prompt_cache, params.base.seed)
            module = TeacherModule(teacher, ranking_weight=0.0, ranking_margin=0.0, lr=recipe.lr, weight_decay=0.0,
                                   milestones=recipe.milestones, lr_gamma=recipe.lr_gamma,
                                   min_val_prediction_std=params.train.min_val_prediction_std, augment="none")
            trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
            trainer.fit(module, datamodule=datamodule(params, recipe.batch_size, latent_cache=cache))

        images = len(datamodule(params, 1).dataset("train")) + len(datamodule(params, 1).dataset("val"))
        uncached = median_seconds(lambda: epoch(None), runs, warmup=0)
        cached = median_seconds(lambda: epoch(params.encode_latents.out), runs, warmup=0)
    return {"train_val_images": images, "batch_size": recipe.batch_size, "epoch_s_uncached": uncached,
            "epoch_s_cached": cached, "ratio": uncached / cached, "encode_latents_stage_s": encode_seconds}


def sd15_steps(runs: int, batch: int) -> dict:
    profile = load_params().models.profiles["sd15"]
    teacher = build_teacher_architecture(profile, device="cpu").to(memory_format=torch.channels_last)
    images = torch.rand(batch, 3, profile.image_size, profile.image_size).contiguous(memory_format=torch.channels_last)
    # Plain SGD: the optimiser step costs the same with and without the cache, and Adam's state for
    # 1B parameters would push this 24 GiB machine into memory pressure that distorts the timings.
    optimiser = torch.optim.SGD([p for p in teacher.parameters() if p.requires_grad], lr=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        posterior = tuple(t.float() for t in teacher.posterior(images))

        def step(cached: bool) -> None:
            teacher.train()
            score, quality_map = teacher(images, posterior=posterior if cached else None)
            loss = score.float().square().mean() + quality_map.float().square().mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

        @torch.no_grad()
        def validate(cached: bool) -> None:
            teacher.eval()
            teacher(images, posterior=posterior if cached else None)

        step(True)  # warm-up: allocations, Adam state
        times = {name: median_seconds(lambda run=action, cached=cached: run(cached), runs, warmup=0) / batch
                 for name, action, cached in [("train_step_s_per_image_uncached", step, False),
                                              ("train_step_s_per_image_cached", step, True),
                                              ("val_forward_s_per_image_uncached", validate, False),
                                              ("val_forward_s_per_image_cached", validate, True)]}

    def epoch(kind: str) -> float:
        return KONIQ_TRAIN * times[f"train_step_s_per_image_{kind}"] + KONIQ_VAL * times[f"val_forward_s_per_image_{kind}"]

    return {"batch": batch, **times, "train_step_ratio": times["train_step_s_per_image_uncached"] / times["train_step_s_per_image_cached"],
            "val_forward_ratio": times["val_forward_s_per_image_uncached"] / times["val_forward_s_per_image_cached"],
            "koniq_epoch_ratio": epoch("uncached") / epoch("cached")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sd15-batch", type=int, default=2)
    parser.add_argument("--skip-sd15", action="store_true")
    args = parser.parse_args()
    result = {"runs": args.runs, "threads": torch.get_num_threads(), "torch": torch.__version__}
    result["tiny"] = tiny_epoch(args.runs)
    print("tiny", result["tiny"], flush=True)
    if not args.skip_sd15:
        result["sd15"] = sd15_steps(args.runs, args.sd15_batch)
        print("sd15", result["sd15"], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "latent_cache.json").write_text(json.dumps(result, indent=2))
    tiny = result["tiny"]
    lines = [f"# Latent cache: teacher training with vs without (median of {args.runs}, {result['threads']} threads)", "",
             "| measurement | uncached | cached | ratio |", "|---|---|---|---|",
             f"| tiny: one epoch, {tiny['train_val_images']} train+val images (s) | {tiny['epoch_s_uncached']:.1f} | "
             f"{tiny['epoch_s_cached']:.1f} | {tiny['ratio']:.2f}x |"]
    if "sd15" in result:
        sd = result["sd15"]
        lines += [
            f"| sd15: train step, s/image (batch {sd['batch']}) | {sd['train_step_s_per_image_uncached']:.2f} | "
            f"{sd['train_step_s_per_image_cached']:.2f} | {sd['train_step_ratio']:.2f}x |",
            f"| sd15: validation forward, s/image | {sd['val_forward_s_per_image_uncached']:.2f} | "
            f"{sd['val_forward_s_per_image_cached']:.2f} | {sd['val_forward_ratio']:.2f}x |",
            f"| sd15: KonIQ-10k epoch (7,058 train + 1,000 val), from the above | | | {sd['koniq_epoch_ratio']:.2f}x |",
        ]
    lines += ["", f"The encode_latents stage itself took {tiny['encode_latents_stage_s']:.1f} s on the tiny profile."]
    (OUT / "latent_cache.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
