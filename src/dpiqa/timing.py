"""One way to time things: the median wall-clock seconds of repeated calls after warm-up.

Used by the evaluate stage's cost figures and by every benchmark, so their numbers compare.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def median_seconds(action: Callable[[], object], runs: int, warmup: int = 1) -> float:
    """Median seconds of `runs` calls of `action`, after `warmup` calls that are not timed
    (first calls allocate, pick kernels and fill caches)."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    for _ in range(warmup):
        action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_name() -> str:
    """The CPU's model name: a timing means nothing without it."""
    for line in CPUINFO.read_text().splitlines() if CPUINFO.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
