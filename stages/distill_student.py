"""DVC stage `distill_student`: distil the teacher into the student, tracked in MLflow."""

from dpiqa.config import load_params
from dpiqa.runtime import run
from dpiqa.tracking.runs import stage_run
from dpiqa.train.pipeline import distill_student, student_inputs


def main() -> None:
    params = load_params()
    logged = params.logged("base", "train", "distill_student")
    with stage_run("distill_student", params.tracking, logged, student_inputs(params)) as tracker:
        distill_student(params, tracker)


if __name__ == "__main__":
    run(main)
