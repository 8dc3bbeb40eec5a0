"""The paper's protocol, honestly: both models trained and tested on every split seed.

Papers report the median over 10 random splits; one split's test SRCC says as much about the
images it happened to put in test as about the models (README, Known limitations). The
pipeline's own models (`train.split_seed`) are read back, not trained again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from dpiqa.config import Params
from dpiqa.evaluate.summaries import MODELS
from dpiqa.tracking.runs import StageTracker

Tracked = Callable[[str], AbstractContextManager[StageTracker]]
REPORTED = ("srcc", "plcc", "srcc_ci", "plcc_ci", "images")


def seed_folder(params: Params, seed: int) -> Path:
    """Run state of seed `seed` (checkpoints, models): kept until it finishes, so a killed one resumes."""
    return params.train.checkpoints / f"seed-{seed}"


def seeded_params(params: Params, seed: int) -> Params:
    """`params` training on split `seed`, every output in its seed folder, the training dataset's
    test split the only one evaluated, in one process on one device: a distributed launcher would
    re-run the whole stage in every process, and seeds are independent runs anyway."""
    scratch = seed_folder(params, seed) / "outputs"

    def moved(section, **changes):
        return section.model_copy(update=changes)

    return params.model_copy(update={
        "train": moved(params.train, split_seed=seed, checkpoints=seed_folder(params, seed), devices=1, num_nodes=1,
                       strategy="auto"),
        "pretrain_prior": moved(params.pretrain_prior, out=scratch / "prior", metrics=scratch / "prior.json",
                                figures=scratch / "prior_figures"),
        "encode_latents": moved(params.encode_latents, out=scratch / "latents.safetensors"),
        "train_teacher": moved(params.train_teacher, out=scratch / "teacher", metrics=scratch / "teacher.json",
                               curve=scratch / "teacher_curve.csv"),
        "teacher_targets": moved(params.teacher_targets, out=scratch / "teacher_targets.safetensors"),
        "distill_student": moved(params.distill_student, out=scratch / "student", metrics=scratch / "student.json",
                                 curve=scratch / "student_curve.csv"),
        "evaluate": moved(params.evaluate, datasets=[params.base.dataset]),
    })


def train_and_evaluate(params: Params, tracked: Tracked) -> dict:
    """Train both models as the pipeline does (the prior first, where the teacher starts from one) and
    summarise their test metrics: every output where `params` puts it."""
    # Imported here, not with the module: the pipeline's own seed only reads evaluate's metrics, and
    # torch, Lightning and diffusers would cost that stage seconds on every run.
    from dpiqa.evaluate.evaluation import score_datasets, summarise
    from dpiqa.models.export import load_pretrained
    from dpiqa.train.pipeline import compute_teacher_targets, distill_student, encode_latents, train_teacher
    from dpiqa.train.prior import pretrain_prior

    seed = params.train.split_seed
    if params.prior_folder():  # learnt from this seed's training images only, as the pipeline's
        with tracked(f"pretrain_prior@seed-{seed}") as tracker:
            pretrain_prior(params, tracker)
    if params.train_teacher.use_latent_cache:
        encode_latents(params)
    with tracked(f"train_teacher@seed-{seed}") as tracker:
        train_teacher(params, tracker)
    compute_teacher_targets(params)
    with tracked(f"distill_student@seed-{seed}") as tracker:
        distill_student(params, tracker)
    models = {name: load_pretrained(folder)[0] for name, folder in
              (("teacher", params.train_teacher.out), ("student", params.distill_student.out))}
    return summarise(params, score_datasets(params, models))


def seed_result(params: Params, seed: int, tracked: Tracked) -> dict:
    """Test metrics of the teacher and student trained on split `seed`."""
    dataset = params.base.dataset
    if seed == params.train.split_seed:
        summary, models = json.loads(params.evaluate.metrics.read_text()), "the pipeline's (train.split_seed)"
    else:
        seeded = seeded_params(params, seed)
        summary, models = train_and_evaluate(seeded, tracked), "trained for this seed"
        shutil.rmtree(seeded.train_teacher.out.parent)  # the models; their checkpoints stay, as the pipeline's do
    result = {"seed": seed, "dataset": dataset, "models": models, "agreement": summary["agreement"][dataset]}
    result.update({name: {key: summary[name][dataset][key] for key in REPORTED} for name in MODELS})
    return result
