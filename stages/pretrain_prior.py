"""DVC stage `pretrain_prior`: the teacher's diffusion prior from unlabelled images, tracked in
MLflow and registered as a model of its own (`register.prior_name`) with its data lineage."""

from mlflow.tracking import MlflowClient

from dpiqa.config import load_params
from dpiqa.runtime import run
from dpiqa.tracking.runs import dvc_hashes, stage_run
from dpiqa.train.prior_plan import prior_inputs, record_no_prior


def main() -> None:
    params = load_params()
    data = prior_inputs(params)
    with stage_run("pretrain_prior", params.tracking, params.logged("base", "train", "pretrain_prior"), data) as tracker:
        summary = record_no_prior(params)
        if summary is None:  # a prior to train: only now the libraries that train and register it
            from dpiqa.registry.prior import register_prior
            from dpiqa.train.prior import pretrain_prior

            summary = pretrain_prior(params, tracker)
            if tracker.run is not None:
                tags = {"git.commit": tracker.run.data.tags["git.commit"], "pipeline_run": tracker.run.info.run_id,
                        "source": params.pretrain_prior.source,
                        **{f"dvc.{path}": digest for path, digest in dvc_hashes(data).items()}}
                register_prior(MlflowClient(), params, tags)


if __name__ == "__main__":
    run(main)
