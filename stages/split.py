"""DVC stage `split@<dataset>`: write the train/val/test split files, one per seed."""

from dpiqa.data import datasets
from dpiqa.runtime import run_dataset_stage

if __name__ == "__main__":
    run_dataset_stage(datasets.split, __doc__)
