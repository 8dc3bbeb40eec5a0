"""How much of a test SRCC is the model, how much the orientation it happened to be scored in?

Both models train on flipped and rotated batches (`augment: dihedral`), so an orientation-free
model would rank the test images alike in all 8 dihedral views. This scores the pipeline's
teacher and student (models/teacher, models/student) on the test split of `train.split_seed` in
every view, and on the mean of the 8 (test-time averaging), with the teacher-student agreement
both ways. The spread over views is a lower bound on how far one reported SRCC can move without
any change to the model. Writes reports/benchmarks/dihedral_views.{json,md}.

    python benchmarks/dihedral_views.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from dpiqa.config import load_params
from dpiqa.data.images import resize_of
from dpiqa.data.loading import IQADataset, split_table
from dpiqa.models.export import load_pretrained
from dpiqa.timing import cpu_name

OUT = Path("reports/benchmarks")
VIEWS = [(flip, quarter_turns) for flip in (False, True) for quarter_turns in range(4)]


def view_name(flip: bool, quarter_turns: int) -> str:
    return ("mirrored, " if flip else "") + f"rotated {90 * quarter_turns} deg"


@torch.inference_mode()
def view_scores(model: torch.nn.Module, images: torch.Tensor, batch_size: int) -> np.ndarray:
    """(8, images): the model's score of every image in each dihedral view, identity first."""
    model.eval()
    scores = []
    for flip, quarter_turns in VIEWS:
        viewed = torch.rot90(images.flip(-1) if flip else images, quarter_turns, dims=(-2, -1))
        scores.append(torch.cat([model(viewed[i : i + batch_size])[0].float()
                                 for i in range(0, len(viewed), batch_size)]).numpy())
    return np.stack(scores)


def srcc(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(spearmanr(a, b)[0]), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    params = load_params()
    key = params.base.dataset
    test = split_table(params.data.manifest_path(key), params.split_file(), "test")
    scores, result = {}, {"dataset": key, "split_seed": params.train.split_seed, "images": len(test),
                          "cpu": cpu_name(), "models": {}}
    for name, folder in (("teacher", params.train_teacher.out), ("student", params.distill_student.out)):
        model, config = load_pretrained(folder)
        dataset = IQADataset(test, params.data.dataset_dir(key), config["preprocessing"]["image_size"],
                             resize=resize_of(config["preprocessing"]))
        images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
        scores[name] = view_scores(model, images, params.evaluate.batch_size)
        per_view = [srcc(view, test["mos"]) for view in scores[name]]
        result["models"][name] = {
            "per_view": dict(zip((view_name(*view) for view in VIEWS), per_view)),
            "identity": per_view[0], "min": min(per_view), "max": max(per_view),
            "mean_of_views": round(float(np.mean(per_view)), 4),
            "averaged_over_views": srcc(scores[name].mean(axis=0), test["mos"]),
        }
    result["agreement"] = {"identity": srcc(scores["teacher"][0], scores["student"][0]),
                           "averaged_over_views": srcc(scores["teacher"].mean(0), scores["student"].mean(0))}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dihedral_views.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Test SRCC in each dihedral view ({key}, split seed {result['split_seed']}, "
             f"{result['images']} images, {result['cpu']})", "",
             "| view | teacher | student |", "|---|---|---|"]
    for view in result["models"]["teacher"]["per_view"]:
        lines.append(f"| {view} | {result['models']['teacher']['per_view'][view]} | "
                     f"{result['models']['student']['per_view'][view]} |")
    for label, field in (("mean of the 8", "mean_of_views"), ("scores averaged over the 8", "averaged_over_views")):
        lines.append(f"| **{label}** | {result['models']['teacher'][field]} | {result['models']['student'][field]} |")
    lines += ["", f"Teacher-student agreement (SRCC): {result['agreement']['identity']} as scored, "
              f"{result['agreement']['averaged_over_views']} averaged over the views."]
    (OUT / "dihedral_views.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
