"""What the training stages do: train the teacher, precompute its targets, distil the student."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Literal

import pandas as pd
import torch
from safetensors.torch import save_file

from dpiqa.config import (
    DistillStudentView,
    EncodeLatentsView,
    ModelStageView,
    Params,
    Recipe,
    TeacherTargetsView,
    TrainParams,
    TrainTeacherView,
)
from dpiqa.data.cards import nominal_mos_range
from dpiqa.data.download import sha256sum
from dpiqa.data.loading import FIT_SPLITS, POSTERIOR_FIELDS, ImageTensors, IQADataModule, IQADataset
from dpiqa.errors import DPIQAError
from dpiqa.models.checkpoints import read_state_dict, weights_digest
from dpiqa.models.export import load_pretrained, save_pretrained
from dpiqa.models.folder import WEIGHTS
from dpiqa.models.inference import run_over
from dpiqa.models.profiles import build_student, build_teacher
from dpiqa.models.teacher import DPIQATeacher
from dpiqa.strict_json import dumps_json
from dpiqa.tracking.runs import StageTracker
from dpiqa.train.fit import FitResult, fit, mark_complete
from dpiqa.train.modules import IQAModule, StudentModule, TeacherModule

log = logging.getLogger(__name__)


def _md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def datamodule(
    params: ModelStageView, batch_size: int, teacher_targets: Path | None = None, latent_cache: Path | None = None,
    latent_splits: tuple[str, ...] = FIT_SPLITS,
) -> IQADataModule:
    key = params.base.dataset
    return IQADataModule(
        manifest=params.data.manifest_path(key),
        split=params.split_file(),
        root=params.data.dataset_dir(key),
        image_size=params.profile.image_size,
        batch_size=batch_size,
        num_workers=params.runtime.num_workers,
        teacher_targets=teacher_targets,
        latent_cache=latent_cache,
        latent_splits=latent_splits,
        resize=params.profile.resize,
    )


def teacher_inputs(params: Params | TrainTeacherView) -> list[Path]:
    """The files the teacher learns from: its MLflow lineage, and what a resumed run must find unchanged."""
    params = TrainTeacherView.of(params)
    inputs = [params.data.manifest_path(params.base.dataset), params.split_file()]
    return inputs + [params.encode_latents.out] if params.train_teacher.use_latent_cache else inputs


def student_inputs(params: Params | DistillStudentView) -> list[Path]:
    """The files the student learns from: its MLflow lineage, and what a resumed run must find unchanged."""
    params = DistillStudentView.of(params)
    return [params.data.manifest_path(params.base.dataset), params.split_file(), params.teacher_targets.out]


def _fingerprint(params: ModelStageView, stage: str, inputs: list[Path]) -> dict:
    """What a resumable run depends on: its params and the bytes of its input tables."""
    return {"params": params.logged("base", "train", stage), "inputs": {str(p): _md5(p) for p in inputs}}


def _module_settings(recipe: Recipe, train: TrainParams) -> dict:
    """The LightningModule's optimiser schedule, augmentation and collapse guard."""
    return {"lr": recipe.lr, "weight_decay": recipe.weight_decay, "milestones": recipe.milestones,
            "lr_gamma": recipe.lr_gamma, "schedule": recipe.schedule, "warmup_fraction": recipe.warmup_fraction,
            "min_val_prediction_std": train.min_val_prediction_std,
            "augment": recipe.augment}


def _train(
    params: ModelStageView,
    stage: str,
    module: IQAModule,
    data: IQADataModule,
    recipe: Recipe,
    tracker: StageTracker,
    inputs: list[Path],
) -> FitResult:
    tracker.log_dataset(data.dataset("train").table, data.manifest, f"{params.base.dataset}-train", "training")
    tracker.log_dataset(data.dataset("val").table, data.manifest, f"{params.base.dataset}-val", "validation")
    return fit(
        module,
        data,
        train=params.train,
        progress_bar=params.runtime.progress_bar,
        epochs=recipe.epochs,
        checkpoints=params.train.checkpoints / stage,
        fingerprint=_fingerprint(params, stage, inputs),
        logger=tracker.lightning_logger(),
        seed=params.base.seed,
        profile=params.base.profile,
    )


def _export(
    module: IQAModule, result: FitResult, params: ModelStageView, stage: str, recipe: Recipe, tracker: StageTracker,
    **loss: float,
) -> None:
    """Save the best-val-SRCC weights as a model folder that says how it was trained, the metrics
    and the curve."""
    outputs = getattr(params, stage)
    out, metrics, curve = outputs.out, outputs.metrics, outputs.curve
    module.model.load_state_dict(read_state_dict(result.best_checkpoint, prefix="model."))
    summary = {"best_val_srcc": result.best_score, "epochs": result.epochs}
    training = {"stage": stage, "profile": params.base.profile, "dataset": params.base.dataset,
                "mos_range": list(nominal_mos_range(params.base.dataset, params)), "seed": params.base.seed,
                "split_seed": params.train.split_seed, "recipe": recipe.model_dump(mode="json"), **loss, **summary}
    save_pretrained(module.model, out, image_size=params.profile.image_size, resize=params.profile.resize,
                    training=training)
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(dumps_json(summary, indent=2))
    curve.parent.mkdir(parents=True, exist_ok=True)
    result.history.to_csv(curve, index=False)
    tracker.log_metrics({"best_val_srcc": result.best_score})
    tracker.log_artifacts([out], folder="model")
    mark_complete(params.train.checkpoints / stage)
    log.info("best val SRCC %.4f; model saved to %s", result.best_score, out)


def _check_latent_cache(path: Path, teacher: DPIQATeacher) -> None:
    """Latents from other VAE weights or another input size would silently train a wrong model."""
    metadata = ImageTensors(path, POSTERIOR_FIELDS).metadata
    if metadata.get("vae_sha256") != weights_digest(teacher.vae):
        raise DPIQAError(f"{path} was encoded by different VAE weights; re-run `dvc repro encode_latents`")
    if int(metadata.get("image_size", -1)) != teacher.image_size:
        raise DPIQAError(f"{path} holds {metadata.get('image_size')} px latents, the teacher reads "
                         f"{teacher.image_size} px; re-run `dvc repro encode_latents`")


def trainable_teacher(params: TrainTeacherView) -> DPIQATeacher:
    """The teacher to train; with train.gradient_checkpointing its U-Net recomputes activations in
    the backward pass instead of keeping them (sd15 at batch 16: about half the GPU memory)."""
    teacher = build_teacher(params.profile, params.models.prompt_cache, params.base.seed, params.prior_folder())
    if params.train.gradient_checkpointing:
        teacher.unet.enable_gradient_checkpointing()
    return teacher


def train_teacher(params: Params | TrainTeacherView, tracker: StageTracker) -> None:
    params = TrainTeacherView.of(params)
    config = params.train_teacher
    recipe = config.recipe(params.base.profile, params.base.dataset)
    teacher = trainable_teacher(params)
    module = TeacherModule(
        teacher, ranking_weight=config.ranking_loss_weight, ranking_margin=config.ranking_margin, **_module_settings(recipe, params.train)
    )
    cache = params.encode_latents.out if config.use_latent_cache else None
    if cache:
        _check_latent_cache(cache, teacher)
    data = datamodule(params, recipe.batch_size, latent_cache=cache, latent_splits=cached_latent_splits(params))
    result = _train(params, "train_teacher", module, data, recipe, tracker, teacher_inputs(params))
    if module.global_rank == 0:
        _export(module, result, params, "train_teacher", recipe, tracker,
                ranking_loss_weight=config.ranking_loss_weight, ranking_margin=config.ranking_margin)


def _save_per_image(tensors: dict[str, torch.Tensor], images: list[str], out: Path, **metadata: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.contiguous() for name, tensor in tensors.items()}
    save_file(tensors, out, metadata={"images": json.dumps(images), **metadata})


def cached_latent_splits(params: EncodeLatentsView | TrainTeacherView) -> tuple[str, ...]:
    """The splits whose batches the teacher reads from the latent cache: an augmented training
    image is encoded afresh (its cached latent no longer matches it), so a recipe that augments
    reads only validation's."""
    recipe = params.train_teacher.recipe(params.base.profile, params.base.dataset)
    return ("val",) if recipe.augment != "none" else FIT_SPLITS


@torch.inference_mode()
def encode_latents(params: Params | EncodeLatentsView) -> Path:
    """The frozen VAE's posterior (mean, std) for every image of the splits the teacher reads
    from the cache (`cached_latent_splits`), once: those batches skip the VAE encoder."""
    params = EncodeLatentsView.of(params)
    config = params.encode_latents
    device = params.train.torch_device()
    teacher = build_teacher(params.profile, params.models.prompt_cache, params.base.seed,
                            params.prior_folder()).eval().to(device)
    data = datamodule(params, config.batch_size)
    splits = cached_latent_splits(params)
    table = pd.concat([data.dataset(split).table for split in splits], ignore_index=True)
    if table.empty:
        raise DPIQAError(f"{data.split} assigns no images to {' or '.join(splits)}; nothing to encode")
    dataset = IQADataset(table, data.root, params.profile.image_size, resize=params.profile.resize)
    mean, std = run_over(teacher.posterior, dataset, batch_size=config.batch_size,
                         num_workers=params.runtime.num_workers, device=device,
                         progress="encode_latents" if params.runtime.progress_bar else None)
    _save_per_image({"mean": mean, "std": std}, list(table["image"]), config.out,
                    vae_sha256=weights_digest(teacher.vae.cpu()), image_size=str(params.profile.image_size))
    log.info("VAE posterior %s for %d %s images -> %s", tuple(mean.shape[1:]), len(table), "+".join(splits), config.out)
    return config.out


def teacher_map_source(params: TeacherTargetsView | DistillStudentView) -> Literal["unused", "cached", "online"]:
    """How the student gets its teacher's maps: `unused` where its recipe has no map term (no teacher
    runs for it), else teacher_targets.mode (`cached` by this stage, `online` every step)."""
    recipe = params.distill_student.recipe(params.base.profile, params.base.dataset)
    return "unused" if recipe.map_loss_weight == 0 else params.teacher_targets.mode


@torch.inference_mode()
def compute_teacher_targets(params: Params | TeacherTargetsView) -> Path:
    """The frozen teacher's quality map for every training image, computed once; none where the
    student's recipe has no map term or computes the maps online."""
    params = TeacherTargetsView.of(params)
    config = params.teacher_targets
    device = params.train.torch_device()
    source = teacher_map_source(params)
    if source == "unused":  # labels-only distillation: a teacher pass over the training set buys nothing
        _save_per_image({}, [], config.out, mode="unused")
        log.info("map_loss_weight 0: the student trains on no teacher map; none computed -> %s", config.out)
        return config.out
    if source == "online":  # no maps: the file names the teacher, so distillation re-runs when it changes
        _save_per_image({}, [], config.out, mode="online", teacher_sha256=sha256sum(params.train_teacher.out / WEIGHTS))
        log.info("teacher_targets mode online: the student computes the maps every step -> %s", config.out)
        return config.out
    teacher = load_pretrained(params.train_teacher.out)[0].to(device)
    dataset = datamodule(params, config.batch_size).dataset("train")
    [maps] = run_over(lambda images: teacher(images)[1:], dataset, batch_size=config.batch_size,
                      num_workers=params.runtime.num_workers, device=device)
    _save_per_image({"maps": maps}, list(dataset.table["image"]), config.out)
    log.info("teacher maps %s for %d training images -> %s", tuple(maps.shape[1:]), len(maps), config.out)
    return config.out


def distill_student(params: Params | DistillStudentView, tracker: StageTracker) -> None:
    params = DistillStudentView.of(params)
    config = params.distill_student
    recipe = config.recipe(params.base.profile, params.base.dataset)
    student = build_student(params.profile, params.base.seed)
    source = teacher_map_source(params)
    module = StudentModule(
        student, map_weight=recipe.map_loss_weight, **_module_settings(recipe, params.train),
        online_teacher=load_pretrained(params.train_teacher.out)[0] if source == "online" else None,
    )
    cached_maps = params.teacher_targets.out if source == "cached" else None
    data = datamodule(params, recipe.batch_size, teacher_targets=cached_maps)
    result = _train(params, "distill_student", module, data, recipe, tracker, student_inputs(params))
    if module.global_rank == 0:
        _export(module, result, params, "distill_student", recipe, tracker)
