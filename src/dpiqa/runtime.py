"""What every entry point shares: logging, and user errors shown as messages, not tracebacks."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable

from mlflow.exceptions import MlflowException

from dpiqa.config import Params, load_params
from dpiqa.data.download import DownloadError, UnsafeArchiveError
from dpiqa.data.validation import ManifestValidationError

QUIET_LOGGERS = ("great_expectations", "urllib3", "PIL")
# Warnings about things this project does on purpose (a frozen VAE in eval mode, resumable
# checkpoint folders, SRCC over a whole validation set, manifests as MLflow datasets).
EXPECTED_WARNINGS = (
    r"Found \d+ module\(s\) in eval mode",
    r"Checkpoint directory .* exists and is not empty",
    r"Metric `SpearmanCorrcoef` will save all targets",
    r"The specified dataset source can be interpreted in multiple ways",
    r"Hint: Inferred schema contains integer column",
)

USER_ERRORS = (
    DownloadError,
    UnsafeArchiveError,
    ManifestValidationError,
    ValueError,
    MlflowException,
    FileNotFoundError,
)


def run(main: Callable[[], object]) -> None:
    """Run `main`; a user-facing error ends the process with its message and exit code 1."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for message in EXPECTED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        main()
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def run_dataset_stage(step: Callable[[str, Params], object], description: str) -> None:
    """Entry point of a per-dataset DVC stage: `python stages/<stage>.py <dataset>`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("dataset", help="a key of data.sources, e.g. embedded")
    arguments = parser.parse_args()
    run(lambda: step(arguments.dataset, load_params()))
