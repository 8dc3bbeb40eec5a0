"""DVC stage `seed@<n>`: the teacher and student trained and tested on split seed n (split.seeds)."""

import sys

from dpiqa.config import load_params
from dpiqa.evaluate.protocol import seed_result
from dpiqa.runtime import run
from dpiqa.strict_json import dumps_json
from dpiqa.tracking.runs import stage_run


def main() -> None:
    seed, params = int(sys.argv[1]), load_params()
    logged = params.logged("base", "train", "train_teacher", "distill_student", "teacher_targets")
    inputs = [params.data.manifest_path(params.base.dataset), params.split.split_path(params.base.dataset, seed)]
    result = seed_result(params, seed, tracked=lambda name: stage_run(name, params.tracking, logged, inputs))
    out = params.evaluate.seeds / f"{seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps_json(result, indent=2))


if __name__ == "__main__":
    run(main)
