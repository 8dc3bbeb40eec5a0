"""DVC stage `validate@<dataset>`: run the Great Expectations suite on a manifest."""

import argparse

from dpiqa.config import load_params
from dpiqa.data import datasets
from dpiqa.runtime import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset")
    datasets.validate(parser.parse_args().dataset, load_params())


if __name__ == "__main__":
    run(main)
