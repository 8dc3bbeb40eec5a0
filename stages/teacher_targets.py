"""DVC stage `teacher_targets`: the frozen teacher's quality map per training image, once."""

from dpiqa.config import load_params
from dpiqa.runtime import run
from dpiqa.train.pipeline import compute_teacher_targets

if __name__ == "__main__":
    run(lambda: compute_teacher_targets(load_params()))
