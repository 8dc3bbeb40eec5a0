"""DVC stage `validate@<dataset>`: run the Great Expectations suite on a manifest."""

from dpiqa.data import datasets
from dpiqa.runtime import run_dataset_stage

if __name__ == "__main__":
    run_dataset_stage(datasets.validate, __doc__)
