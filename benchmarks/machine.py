"""What the benchmarks share: the machine they ran on, and how a call is timed."""

from __future__ import annotations

import platform
import time
from pathlib import Path

__all__ = ["best_time", "cpu_model"]


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or what the platform module knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def best_time(function, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls after one untimed warm-up call, in seconds."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best
