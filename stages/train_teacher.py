"""DVC stage `train_teacher`: train the DP-IQA teacher, tracked in MLflow."""

from dpiqa.config import load_params
from dpiqa.runtime import run
from dpiqa.tracking.runs import stage_run
from dpiqa.train.pipeline import teacher_inputs, train_teacher


def main() -> None:
    params = load_params()
    logged = params.logged("base", "train", "train_teacher", "encode_latents")
    with stage_run("train_teacher", params.tracking, logged, teacher_inputs(params)) as tracker:
        train_teacher(params, tracker)


if __name__ == "__main__":
    run(main)
