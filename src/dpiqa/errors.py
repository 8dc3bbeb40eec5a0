"""The project's one error type for mistakes a user can fix (no heavy imports: every entry point loads it)."""

from __future__ import annotations

USER_ERROR_EXIT = 2  # argparse's status for a bad command line; 1 stays for "some images failed"


class DPIQAError(Exception):
    """Bad input, missing data or weights, a stale stage output: one line that says what to do.

    Entry points print it without a traceback and exit with USER_ERROR_EXIT; anything else is a
    bug and keeps its traceback."""
