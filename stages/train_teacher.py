"""DVC stage `train_teacher`: train the DP-IQA teacher, tracked in MLflow."""

from dpiqa.config import load_params
from dpiqa.runtime import run
from dpiqa.tracking.runs import stage_run
from dpiqa.train.pipeline import train_teacher


def main() -> None:
    params = load_params()
    inputs = [params.data.manifest_path(params.base.dataset), params.split_file().parent]
    if params.train_teacher.use_latent_cache:
        inputs.append(params.encode_latents.out)
    logged = params.logged("base", "train", "train_teacher", "encode_latents")
    with stage_run("train_teacher", params.tracking, logged, inputs) as tracker:
        train_teacher(params, tracker)


if __name__ == "__main__":
    run(main)
