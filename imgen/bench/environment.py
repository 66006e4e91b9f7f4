"""What a benchmark ran on: the machine (CPU, GPU, memory) and the software versions.

Every result file carries these, so that numbers from two machines are never compared by
accident. Nothing here changes any state; reading the GPU's name initialises CUDA.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# CPU features that decide which reduced precisions have fast kernels on the CPU.
_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_fp16", "avx512_fp16")


def _cpuinfo() -> tuple[str, list[str]]:
    """The CPU's model name and the interesting flags, from /proc/cpuinfo (Linux)."""
    model, flags = "", []
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            present = set(value.split())
            flags = [f for f in _CPU_FLAGS if f in present]
    return model or platform.processor(), flags


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine(device: Any = None) -> dict[str, Any]:
    """The machine: OS, CPU model, cores, memory, torch threads, and the GPU if there is one.

    Args:
        device: the torch device benchmarked; a CUDA device's name, memory and compute
            capability are given for it (else for GPU 0 when CUDA is available).
    """
    import torch

    cpu, flags = _cpuinfo()
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_flags": flags,
        "cpu_count": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        index = 0
        if device is not None and torch.device(device).type == "cuda":
            index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        info["gpu"] = torch.cuda.get_device_name(index)
        info["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
        info["gpu_capability"] = f"{props.major}.{props.minor}"
        info["gpu_count"] = torch.cuda.device_count()
    return info


def versions() -> dict[str, Any]:
    """Python, torch (with its CUDA and cuDNN), imgen and the loaded plugins' versions."""
    import numpy
    import torch

    import imgen

    out: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "numpy": numpy.__version__,
        "imgen": imgen.__version__,
    }
    try:
        from imgen.plugins import get_host

        out["plugins"] = {
            name: info.version
            for name, info in get_host().plugins.items()
            if info.status == "ok" and name != "imgen"
        }
    except Exception as exc:  # a versions line must never stop a benchmark
        out["plugins"] = f"unavailable: {type(exc).__name__}: {exc}"
    return out


def device_label(info: dict[str, Any], device_type: str) -> str:
    """A short file-name-safe name for results: ``h100-80gb-hbm3``, ``cpu-amd-epyc``..."""
    name = info.get("gpu", "") if device_type == "cuda" else f"cpu {info.get('cpu', '')}"
    for noise in ("NVIDIA", "(R)", "(TM)", "Processor", "CPU", "@"):
        name = name.replace(noise, " ")
    words = "".join(c if c.isalnum() else " " for c in name.lower()).split()
    label = "-".join(words[:4]) or device_type
    return label if device_type == "cuda" else "cpu-" + label.removeprefix("cpu-")
