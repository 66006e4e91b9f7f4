"""Clocks and memory meters that mean the same on the CPU and on a GPU.

CUDA runs asynchronously: a Python clock around a step measures the launch unless the device
is synchronised before reading it, so every timer here synchronises first. Peak memory is
what the device can say for itself:

- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``: the largest
  amount held by tensors at once (weights, optimizer state, activations), excluding the
  caching allocator's reserve and the CUDA context.
- CPU: the growth of the process's resident set, from a reference point to the highest
  value during the measured code (Linux ``VmHWM``, whose high-water mark is reset through
  ``/proc/self/clear_refs``). Between rows the C heap's free memory is handed back to the OS
  (glibc's ``malloc_trim``) so that each row counts its own allocations; what the allocator
  keeps or reuses still blurs it, so it is an estimate.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

CUDA_MEMORY = "torch.cuda.max_memory_allocated during the measured code (tensors only)"
CPU_MEMORY = (
    "growth of the process's resident set from before the row (VmHWM, reset through "
    "/proc/self/clear_refs, minus VmRSS before; the heap trimmed between rows): an estimate"
)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_calls(fn: Callable[[], Any], device: torch.device, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn``, synchronised before and after each."""
    times = []
    for _ in range(repeats):
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return times


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def _malloc_trim() -> None:
    """Hand the C heap's free memory back to the OS (glibc), so that the next CPU row's
    resident-set growth counts its own allocations rather than reusing the last row's."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the estimate is a lower bound
        pass


def release(device: torch.device) -> None:
    """Free what the last measurement left (Python garbage, CUDA's cached blocks, the heap)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    _malloc_trim()


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_cpu_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM)
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak memory of the code run between :meth:`start` and :meth:`stop`, in MiB.

    ``start(reference=...)`` may name an earlier reference point on the CPU (the resident
    set before a trainer was built), so that the weights count as they do on CUDA.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.reference_kb: int | None = None
        self.ok = True

    @staticmethod
    def rss_kb() -> int | None:
        """The resident set now (kB), a reference point for :meth:`start`."""
        return _status_kb("VmRSS")

    def start(self, reference_kb: int | None = None) -> None:
        if self.device.type == "cuda":
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        self.reference_kb = reference_kb if reference_kb is not None else self.rss_kb()
        self.ok = _reset_cpu_peak() and self.reference_kb is not None

    def stop(self) -> float | None:
        """The peak in MiB (None where the platform cannot say)."""
        if self.device.type == "cuda":
            synchronize(self.device)
            return round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        peak = _status_kb("VmHWM")
        if not self.ok or peak is None or self.reference_kb is None:
            return None
        return round(max(0, peak - self.reference_kb) / 1024, 1)

    @staticmethod
    def describe(device: torch.device) -> str:
        return CUDA_MEMORY if device.type == "cuda" else CPU_MEMORY


@contextmanager
def measured_peak(device: torch.device, result: dict[str, Any], key: str) -> Iterator[None]:
    """``with measured_peak(device, row, "peak_memory_mb"): ...`` stores the peak in ``row``."""
    meter = PeakMemory(device)
    meter.start()
    try:
        yield
    finally:
        result[key] = meter.stop()
