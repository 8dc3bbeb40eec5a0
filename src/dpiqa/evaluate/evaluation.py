"""Evaluate the teacher and the student on test splits: agreement with MOS, with each other, cost.

The training dataset is scored on its test split (touched here only); any other dataset named in
params is scored whole, for cross-dataset generalisation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from dpiqa.config import EvaluateView, Params
from dpiqa.data.loading import IQADataset, split_table
from dpiqa.data.manifest import read_manifest
from dpiqa.evaluate.figures import scatter, training_curves
from dpiqa.evaluate.heatmaps import extremes_figure
from dpiqa.evaluate.metrics import agreement, bootstrap_intervals
from dpiqa.evaluate.predict import predict
from dpiqa.evaluate.summaries import MODELS, labels_only_srcc
from dpiqa.models.export import load_pretrained
from dpiqa.models.folder import onnx_graph
from dpiqa.scoring import Scorer
from dpiqa.strict_json import dumps_json
from dpiqa.timing import median_seconds


def evaluation_table(params: EvaluateView, dataset: str) -> pd.DataFrame:
    if dataset != params.base.dataset:
        return read_manifest(params.data.manifest_path(dataset))
    return split_table(params.data.manifest_path(dataset), params.split_file(), "test")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.inference_mode()
def latency_per_image(forward: Callable[[np.ndarray], object], image_size: int, runs: int) -> float:
    """Median seconds to score one image (batch 1)."""
    image = np.random.default_rng(0).random((1, 3, image_size, image_size), dtype=np.float32)
    with torch.inference_mode():
        return median_seconds(lambda: forward(image), runs)


def measure_cost(params: EvaluateView, loaded: dict[str, tuple[Path, nn.Module, dict]]) -> dict:
    """Size and CPU latency (where users score): PyTorch fp32, and as `dpiqa score` runs the model
    (params `score`). Kept apart from the quality metrics: timings differ run to run.

    `loaded`: name -> (model folder, model, its config.json).
    """
    cost: dict = {}
    for name, (folder, model, config) in loaded.items():
        size, runs, model = params.profile.image_size, params.evaluate.latency_runs, model.cpu()
        cost[name] = {"parameters": parameter_count(model),
                      "latency_s": latency_per_image(lambda image, model=model: model(torch.from_numpy(image)), size, runs)}
        scorer = Scorer(model, config, params.score, onnx_graph(folder))  # may convert it to channels_last
        cost[name]["latency_scoring_s"] = latency_per_image(scorer.scores, size, runs)
        cost[name]["scoring_engine"] = scorer.description
    cost["ratios"] = {
        "parameters_teacher_over_student": cost["teacher"]["parameters"] / cost["student"]["parameters"],
        "latency_teacher_over_student": cost["teacher"]["latency_s"] / cost["student"]["latency_s"],
        "latency_scoring_teacher_over_student": cost["teacher"]["latency_scoring_s"] / cost["student"]["latency_scoring_s"],
    }
    return cost


def score_datasets(params: EvaluateView, models: dict[str, nn.Module]) -> dict[str, pd.DataFrame]:
    """Per dataset, one row per image with each model's prediction on [0, 1]."""
    config = params.evaluate
    device = params.train.torch_device()
    tables = {}
    for dataset in config.datasets:
        table = IQADataset(evaluation_table(params, dataset), params.data.dataset_dir(dataset), params.profile.image_size,
                           resize=params.profile.resize)
        frame = table.table[["image", "mos", "ref_image", "distortion", "distortion_level"]].copy()
        for name, model in models.items():
            scored = predict(model, table, config.batch_size, params.runtime.num_workers, device)
            frame[name] = scored["prediction"].to_numpy()
        tables[dataset] = frame
    return tables


def summarise(params: EvaluateView, tables: dict[str, pd.DataFrame], models: tuple[str, ...] = MODELS) -> dict:
    """The metrics file: per model and dataset every statistic with its confidence interval."""
    config = params.evaluate
    summary: dict = {name: {} for name in models}
    summary["agreement"] = {}
    for dataset, frame in tables.items():
        mos = frame["mos"].to_numpy()
        for name in models:
            prediction = frame[name].to_numpy()
            values = agreement(prediction, mos)
            intervals = bootstrap_intervals(
                prediction, mos, config.bootstrap_resamples, params.base.seed, config.confidence
            )
            summary[name][dataset] = {
                **values,
                **{f"{k}_ci": list(v) for k, v in intervals.items()},
                "images": len(frame),
            }
        summary["agreement"][dataset] = float(
            agreement(frame["teacher"].to_numpy(), frame["student"].to_numpy())["srcc"]
        )
    return summary


def run_evaluation(params: Params | EvaluateView) -> tuple[dict, dict, list[Path]]:
    """Score, summarise and write metrics.json, cost.json, the prediction tables and the figures."""
    params = EvaluateView.of(params)
    folders = {"teacher": params.train_teacher.out, "student": params.distill_student.out}
    loaded = {name: (folder, *load_pretrained(folder)) for name, folder in folders.items()}
    models = {name: model for name, (_, model, _) in loaded.items()}
    tables = score_datasets(params, models)
    summary = summarise(params, tables)
    key = params.base.dataset
    if key in tables:
        train = split_table(params.data.manifest_path(key), params.split_file(), "train")
        baseline = labels_only_srcc(train, tables[key])
        if baseline is not None:
            summary["labels_only"] = {key: baseline}
    cost = measure_cost(params, loaded)
    config = params.evaluate
    config.metrics.parent.mkdir(parents=True, exist_ok=True)
    config.metrics.write_text(dumps_json(summary, indent=2))
    config.cost.parent.mkdir(parents=True, exist_ok=True)
    config.cost.write_text(dumps_json(cost, indent=2))
    config.predictions.mkdir(parents=True, exist_ok=True)
    figures = []
    for dataset, frame in tables.items():
        frame.to_csv(config.predictions / f"{dataset}.csv", index=False)
        figures.append(scatter(frame, dataset, MODELS, config.figures / f"scatter_{dataset}.png"))
    curves = {"teacher": pd.read_csv(params.train_teacher.curve), "student": pd.read_csv(params.distill_student.curve)}
    figures.append(training_curves(curves, config.figures / "training_curves.png"))
    if params.base.dataset in tables:  # its test split: where the report shows quality maps
        root, test = params.data.dataset_dir(params.base.dataset), tables[params.base.dataset]
        figures += [extremes_figure(model, name, test, root, params.profile.image_size, params.profile.resize, params.heatmaps,
                                    config.figures / f"maps_{name}.png") for name, model in models.items()]
    return summary, cost, figures
