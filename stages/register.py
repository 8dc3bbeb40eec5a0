"""DVC stage `register`: new registry versions of teacher and student, aliased `challenger`."""

import json

from mlflow.tracking import MlflowClient

from dpiqa.config import load_params
from dpiqa.registry.registry import register_models
from dpiqa.runtime import run
from dpiqa.strict_json import dumps_json
from dpiqa.tracking.runs import dvc_hashes, stage_run


def main() -> None:
    params = load_params()
    data = [params.data.manifest_path(params.base.dataset), params.split_file(),
            params.train_teacher.out, params.distill_student.out]
    with stage_run("register", params.tracking, params.logged("register", "score"), data) as tracker:
        tags = {"git.commit": tracker.run.data.tags["git.commit"], "pipeline_run": tracker.run.info.run_id}
        tags.update({f"dvc.{path}": digest for path, digest in dvc_hashes(data).items()})
        summary = json.loads(params.evaluate.metrics.read_text())
        cost = json.loads(params.evaluate.cost.read_text())
        registered = register_models(MlflowClient(), params, summary, cost, tags)
    params.register_.out.write_text(dumps_json(registered, indent=2))


if __name__ == "__main__":
    run(main)
