"""DVC stage `download@<dataset>`: fetch, generate or copy in a dataset and write its manifest."""

from dpiqa.data import datasets
from dpiqa.runtime import run_dataset_stage

if __name__ == "__main__":
    run_dataset_stage(datasets.download, __doc__)
