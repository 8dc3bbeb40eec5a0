"""DVC stage `download@<dataset>`: fetch, generate or copy in a dataset and write its manifest."""

import argparse

from dpiqa.config import load_params
from dpiqa.data import datasets
from dpiqa.runtime import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset")
    datasets.download(parser.parse_args().dataset, load_params())


if __name__ == "__main__":
    run(main)
