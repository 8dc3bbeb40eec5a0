"""What every entry point shares: logging, and user errors shown as messages, not tracebacks."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable

from dpiqa.config import Params, load_params
from dpiqa.errors import USER_ERROR_EXIT, DPIQAError

log = logging.getLogger("dpiqa")

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


def run(main: Callable[[], object]) -> None:
    """Run `main`: a DPIQAError ends the process with its message and USER_ERROR_EXIT; any other
    exception is a bug and is logged with its traceback (exit 1)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for message in EXPECTED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        main()
    except DPIQAError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    except Exception:
        log.exception("unexpected error (a bug: please report it with this traceback)")
        sys.exit(1)


def run_dataset_stage(step: Callable[[str, Params], object], description: str) -> None:
    """Entry point of a per-dataset DVC stage: `python stages/<stage>.py <dataset>`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("dataset", help="a key of data.sources, e.g. embedded")
    arguments = parser.parse_args()
    run(lambda: step(arguments.dataset, load_params()))
