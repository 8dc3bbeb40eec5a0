"""DVC stage `split@<dataset>`: write the train/val/test split files, one per seed."""

import argparse

from dpiqa.config import load_params
from dpiqa.data import datasets
from dpiqa.runtime import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset")
    datasets.split(parser.parse_args().dataset, load_params())


if __name__ == "__main__":
    run(main)
