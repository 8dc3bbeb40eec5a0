"""The Trainer around a module: precision/devices from params, atomic checkpoints, resuming.

Checkpoints (best val SRCC and last) live in a folder DVC keeps across re-runs. A run killed
before it finished resumes from `last.ckpt` when the stage runs again with the same inputs
(same fingerprint); a finished run, or one with other inputs, starts afresh.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.nn.modules.batchnorm import _BatchNorm

from dpiqa.config import TrainParams
from dpiqa.strict_json import dumps_json
from dpiqa.tracking.runs import is_rank_zero

log = logging.getLogger(__name__)

MONITOR = "val/srcc"
# Columns of a training curve (the DVC plots file) -> the logged metric each reads.
IQA_CURVE = {"train_loss": "train/loss", "val_srcc": "val/srcc", "val_plcc": "val/plcc"}
FINGERPRINT, COMPLETE, LAST = "fingerprint.json", "COMPLETE", "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to a temporary file, then rename: a kill never leaves a corrupt checkpoint."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        super().save_checkpoint(checkpoint, partial, storage_options)
        os.replace(partial, path)


class EpochHistory(Callback):
    """Per-epoch metrics (`columns`: curve column -> logged metric), for the DVC plots file."""

    def __init__(self, columns: dict[str, str]):
        self.columns = columns
        self.rows: list[dict] = []

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        self.rows.append({"epoch": trainer.current_epoch,
                          **{column: metrics.get(metric) for column, metric in self.columns.items()}})

    def state_dict(self) -> dict:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict) -> None:
        self.rows = state["rows"]


class PreciseBatchNorm(Callback):
    """Before each validation, re-estimate BatchNorm statistics with the current weights on
    `batches` training batches (PreciseBN: Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021).

    Running averages lag the weights: in a randomly initialised network whose activation scales
    move fast, eval mode normalises with stale statistics, the error compounds through dozens
    of layers, and every image gets the same score (measured: the tiny student's validation
    predictions had std 0.0000 in eval mode and 0.63 in train mode after 50 steps). Frozen
    BatchNorm layers keep their statistics.
    """

    def __init__(self, batches: int):
        self.batches = batches

    def on_validation_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        norms = [
            m for m in module.modules()
            if isinstance(m, _BatchNorm) and m.track_running_stats and (m.weight is None or m.weight.requires_grad)
        ]
        if trainer.sanity_checking or not self.batches or not norms:
            return
        momenta = {norm: norm.momentum for norm in norms}
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a plain average over the batches below
        was_training = module.training
        module.train()
        with torch.no_grad():
            for index, batch in enumerate(islice(trainer.train_dataloader, self.batches)):
                module.predict_batch(module.transfer_batch_to_device(batch, module.device, index))
        for norm, momentum in momenta.items():
            norm.momentum = momentum
        module.train(was_training)


@dataclass(frozen=True)
class FitResult:
    best_checkpoint: Path
    best_score: float  # the monitored metric at the best checkpoint
    epochs: int
    history: pd.DataFrame


def resume_path(checkpoints: Path, fingerprint: dict) -> Path | None:
    """`last.ckpt` of an unfinished run with the same inputs; otherwise clear the folder."""
    saved = checkpoints / FINGERPRINT
    last = checkpoints / LAST
    if (
        last.exists()
        and not (checkpoints / COMPLETE).exists()
        and saved.exists()
        and json.loads(saved.read_text()) == fingerprint
    ):
        log.info("resuming the unfinished run from %s", last)
        return last
    shutil.rmtree(checkpoints, ignore_errors=True)
    checkpoints.mkdir(parents=True)
    saved.write_text(dumps_json(fingerprint, indent=2))
    return None


def mark_complete(checkpoints: Path) -> None:
    """Called once the run's outputs are written: the next run of the stage starts afresh."""
    (checkpoints / COMPLETE).touch()


def fit(
    module: L.LightningModule,
    datamodule: L.LightningDataModule,
    *,
    train: TrainParams,
    progress_bar: bool,
    epochs: int,
    checkpoints: Path,
    fingerprint: dict,
    logger: Logger | bool,
    seed: int,
    profile: str,
    monitor: str = MONITOR,
    mode: str = "max",
    curve: dict[str, str] = IQA_CURVE,
) -> FitResult:
    """Train `module` for `epochs`, keeping the checkpoint best by `monitor` (`mode`) and the last."""
    L.seed_everything(seed, workers=True, verbose=False)
    # Lightning's launcher starts the other ranks inside trainer.fit, after rank zero decided.
    resume = resume_path(checkpoints, fingerprint) if is_rank_zero() else checkpoints / LAST
    if not is_rank_zero() and not resume.exists():
        resume = None
    best = ModelCheckpoint(
        dirpath=checkpoints, filename="best", monitor=monitor, mode=mode, enable_version_counter=False
    )
    # Lightning writes `last` only beside a new best: a second callback keeps every epoch's state.
    last = ModelCheckpoint(dirpath=checkpoints, filename=Path(LAST).stem, enable_version_counter=False)
    history = EpochHistory(curve)
    kind = train.accelerator_kind()
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=kind,
        devices=train.devices,
        num_nodes=train.num_nodes,
        strategy=train.strategy,
        precision=train.trainer_precision(profile),
        deterministic=train.deterministic,
        logger=logger,
        callbacks=[PreciseBatchNorm(train.precise_bn_batches), best, last, history],
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        log_every_n_steps=1,
        default_root_dir=checkpoints,
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
    return FitResult(
        best_checkpoint=Path(best.best_model_path),
        best_score=float(best.best_model_score) if best.best_model_score is not None else float("nan"),
        epochs=trainer.current_epoch,
        history=pd.DataFrame(history.rows),
    )
