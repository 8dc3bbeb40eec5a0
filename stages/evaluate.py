"""DVC stage `evaluate`: teacher and student on the test sets, tracked in MLflow."""

from dpiqa.config import load_params
from dpiqa.evaluate.evaluation import run_evaluation
from dpiqa.runtime import run
from dpiqa.tracking.runs import stage_run


def main() -> None:
    params = load_params()
    inputs = [params.train_teacher.out, params.distill_student.out]
    inputs += [params.data.manifest_path(key) for key in params.evaluate.datasets]
    with stage_run("evaluate", params.tracking, params.logged("base", "evaluate", "score"), inputs) as tracker:
        summary, cost, figures = run_evaluation(params)
        tracker.log_metrics({**summary, "cost": cost})
        tracker.log_artifacts(figures, folder="figures")


if __name__ == "__main__":
    run(main)
