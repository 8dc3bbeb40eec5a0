"""What every entry point shares: logging, and user errors shown as messages, not tracebacks."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pydantic import ValidationError

from dpiqa.data.download import DownloadError, UnsafeArchiveError
from dpiqa.data.sources.local import DatasetNotFoundError
from dpiqa.data.validation import ManifestValidationError

QUIET_LOGGERS = ("great_expectations", "urllib3", "PIL")

USER_ERRORS = (
    DatasetNotFoundError,
    DownloadError,
    UnsafeArchiveError,
    ManifestValidationError,
    ValidationError,
    ValueError,
)


def run(main: Callable[[], object]) -> None:
    """Run `main`; a user-facing error ends the process with its message and exit code 1."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        main()
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
