"""LightningModules: they wire losses, metrics and optimisers around the plain networks."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.regression import PearsonCorrCoef, SpearmanCorrCoef

log = logging.getLogger(__name__)


def pairwise_margin_ranking_loss(scores: torch.Tensor, mos: torch.Tensor, margin: float) -> torch.Tensor:
    """Margin ranking over every pair in the batch whose MOS differ (the authors' optional term)."""
    i, j = torch.triu_indices(len(scores), len(scores), offset=1, device=scores.device)
    order = torch.sign(mos[i] - mos[j])
    keep = order != 0
    if not keep.any():
        return scores.sum() * 0
    return F.margin_ranking_loss(scores[i][keep], scores[j][keep], order[keep], margin=margin)


def dihedral(batch: dict, keys: tuple[str, ...]) -> dict:
    """Each sample flipped (or not) and rotated by a random multiple of 90 degrees, the same way
    in every tensor named in `keys` (an image and its teacher map)."""
    rotations = torch.randint(4, (len(batch[keys[0]]),)).tolist()
    flips = torch.randint(2, (len(rotations),)).tolist()
    out = dict(batch)
    for key in keys:
        out[key] = torch.stack([
            torch.rot90(sample.flip(-1) if flip else sample, rotation, dims=(-2, -1))
            for sample, rotation, flip in zip(batch[key], rotations, flips)
        ])
    return out


def _correlations() -> MetricCollection:
    return MetricCollection({"srcc": SpearmanCorrCoef(), "plcc": PearsonCorrCoef()})


# Logged as val/srcc for predictions without spread, so such an epoch is never the best one.
NO_RANKING = -1.0


class IQAModule(L.LightningModule, ABC):
    """Shared training logic: one model_step for every split, Adam + MultiStepLR, SRCC/PLCC,
    dihedral augmentation of training batches (`augment`).

    An epoch whose validation predictions spread less than `min_val_prediction_std` is scored
    NO_RANKING: SRCC over near-constant predictions ranks float rounding noise, and a collapsed
    model must never be kept as the best one.
    """

    AUGMENTED: tuple[str, ...] = ("image",)  # batch tensors that flip and rotate together
    INVALIDATED_BY_AUGMENTATION: tuple[str, ...] = ()  # batch tensors an augmented image no longer matches

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float,
        weight_decay: float,
        milestones: list[int],
        lr_gamma: float,
        min_val_prediction_std: float,
        augment: str,
        schedule: str,
        warmup_fraction: float,
    ):
        super().__init__()
        if augment not in ("none", "dihedral"):
            raise ValueError(f"augment must be 'none' or 'dihedral', got {augment!r}")
        self.model = model
        self.augment = augment
        self.lr, self.weight_decay = lr, weight_decay
        if schedule not in ("multistep", "one_cycle"):
            raise ValueError(f"schedule must be 'multistep' or 'one_cycle', got {schedule!r}")
        self.milestones, self.lr_gamma = milestones, lr_gamma
        self.schedule, self.warmup_fraction = schedule, warmup_fraction
        self.min_val_prediction_std = min_val_prediction_std
        self.val_metrics = _correlations().clone(prefix="val/")

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        if self.augment == "dihedral" and self.trainer.training:
            kept = {key: value for key, value in batch.items() if key not in self.INVALIDATED_BY_AUGMENTATION}
            return dihedral(kept, tuple(key for key in self.AUGMENTED if key in kept))  # online maps come later
        return batch

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(images)

    def predict_batch(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return self(batch["image"])

    @abstractmethod
    def loss(self, batch: dict, score: torch.Tensor, quality_map: torch.Tensor) -> dict[str, torch.Tensor]:
        """The objective: a dict of named terms whose `loss` entry is optimised."""

    def training_step(self, batch: dict, _: int) -> torch.Tensor:
        score, quality_map = self.predict_batch(batch)
        losses = self.loss(batch, score.float(), quality_map.float())
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=len(score), sync_dist=True)
        return losses["loss"]

    def validation_step(self, batch: dict, _: int) -> None:
        score, _ = self.predict_batch(batch)
        self.val_metrics.update(score.float(), batch["mos"])
        self.val_scores.append(score.detach().float())

    def on_validation_epoch_start(self) -> None:
        self.val_scores: list[torch.Tensor] = []

    def on_validation_epoch_end(self) -> None:
        metrics = self.val_metrics.compute()
        scores = self.all_gather(torch.cat(self.val_scores)).flatten()
        spread = float(scores.std()) if len(scores) > 1 else 0.0
        if not spread >= self.min_val_prediction_std:
            if not self.trainer.sanity_checking:  # an untrained model scores every image alike
                log.warning("validation predictions collapsed (std %.2e < %.2e): this epoch cannot be the best",
                            spread, self.min_val_prediction_std)
            metrics["val/srcc"] = torch.tensor(NO_RANKING)
        self.log_dict(metrics, sync_dist=True)
        self.log("val/prediction_std", spread, sync_dist=True)
        self.val_metrics.reset()

    def configure_optimizers(self):
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=self.lr, weight_decay=self.weight_decay)
        if self.schedule == "one_cycle":
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.lr, total_steps=self.trainer.estimated_stepping_batches,
                pct_start=self.warmup_fraction)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, self.milestones, gamma=self.lr_gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


class TeacherModule(IQAModule):
    """MSE on MOS, plus an optional margin-ranking term (off by default, as the authors ran it)."""

    INVALIDATED_BY_AUGMENTATION = ("latent_mean", "latent_std")  # the VAE encodes the augmented image

    def __init__(self, model: nn.Module, *, ranking_weight: float, ranking_margin: float, **settings):
        super().__init__(model, **settings)
        self.ranking_weight, self.ranking_margin = ranking_weight, ranking_margin

    def predict_batch(self, batch):
        """From the cached VAE posterior when the batch carries one (encode_latents stage)."""
        if "latent_mean" not in batch:
            return self(batch["image"])
        return self.model(batch["image"], posterior=(batch["latent_mean"], batch["latent_std"]))

    def loss(self, batch, score, quality_map):
        losses = {"mse": F.mse_loss(score, batch["mos"])}
        losses["loss"] = losses["mse"]
        if self.ranking_weight:
            losses["ranking"] = pairwise_margin_ranking_loss(score, batch["mos"], self.ranking_margin)
            losses["loss"] = losses["loss"] + self.ranking_weight * losses["ranking"]
        return losses


class StudentModule(IQAModule):
    """MSE(score, MOS) + map_weight x MSE(student map, teacher map).

    The frozen teacher's maps arrive in the batch (teacher_targets mode `cached`), or an
    `online_teacher` computes them every step from the (augmented) images, under the trainer's
    precision, as the authors distil. The online teacher is no submodule: never trained, never in
    the student's checkpoints.
    """

    AUGMENTED = ("image", "teacher_map")

    def __init__(self, model: nn.Module, *, map_weight: float, online_teacher: nn.Module | None = None, **settings):
        super().__init__(model, **settings)
        self.map_weight = map_weight
        if map_weight == 0:  # maps nothing reads: not worth a teacher forward pass per step
            online_teacher = None
        object.__setattr__(self, "online_teacher", online_teacher.eval().requires_grad_(False) if online_teacher else None)

    def on_fit_start(self) -> None:
        if self.online_teacher is not None:
            self.online_teacher.to(self.device)

    def training_step(self, batch: dict, index: int) -> torch.Tensor:
        if self.online_teacher is not None:
            with torch.no_grad():
                batch = {**batch, "teacher_map": self.online_teacher(batch["image"])[1].float()}
        return super().training_step(batch, index)

    def loss(self, batch, score, quality_map):
        losses = {"mse": F.mse_loss(score, batch["mos"])}
        if "teacher_map" in batch:  # only where map_weight > 0: teacher_targets computes no map otherwise
            losses["map_mse"] = F.mse_loss(quality_map, batch["teacher_map"])
        losses["loss"] = losses["mse"] + self.map_weight * losses.get("map_mse", 0.0)
        return losses
