"""Device and precision choices."""

from __future__ import annotations

import contextlib
import os

import torch

from imgen.errors import UsageError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; anything else must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but torch sees no CUDA device")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps was asked for, but MPS is not available")
    return device


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``name`` on ``device`` (None: plain fp32)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if name == "fp16" and device.type == "cpu":
        raise UsageError("--precision fp16 is for CUDA; on the CPU use --precision bf16")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def default_workers(device: torch.device) -> int:
    # On the CPU the loader's processes would take cores from the training step itself.
    if device.type == "cpu":
        return 0
    return min(8, os.cpu_count() or 1)


def available_memory(device: torch.device | str | None = None) -> int:
    """Bytes that can still be allocated on ``device`` (None or CPU: RAM), 0 when unknown.

    CPU: ``MemAvailable`` of /proc/meminfo, lowered to a cgroup's limit where one is set
    (a container); CUDA: the device's free memory.

    Example:
        >>> available_memory() >= 0
        True
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:  # no driver, or a device that is not there: unknown
            return 0
    if device.type != "cpu":
        return 0
    have = 0
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                have = int(line.split()[1]) * 1024
    with contextlib.suppress(OSError, ValueError):
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            used = int(f.read().strip())
        if limit != "max":
            left = max(int(limit) - used, 0)
            have = min(have, left) if have else left
    return have


def saved_activation_bytes(fn, *args, **kwargs) -> tuple[int, object]:
    """Bytes that autograd keeps for the backward of ``fn(*args, **kwargs)``; and its result.

    Every tensor saved for backward is counted once (by its storage), leaves excepted: the
    parameters (trained or frozen) exist whatever the batch, and the inputs are the caller's
    to count. The result's graph is as without the measurement (``backward`` works), and so
    is the memory it holds. What it gives is what a batch holds until ``backward``, the part
    of a step's memory that grows with it.

    Args:
        fn: the forward to measure (a module, or a function of modules), run with grad on.
        args, kwargs: its arguments.

    Returns:
        The bytes saved, and what ``fn`` returned.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        >>> n, _ = saved_activation_bytes(net, torch.zeros(10, 4))
        >>> n  # the 10x8 ReLU output, which both ReLU and the last Linear save
        320
    """
    seen: set[int] = set()
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        base = t._base if t._base is not None else t  # a weight is saved as its transpose
        storage = t.untyped_storage()
        # Every counted tensor stays saved (alive) meanwhile, so no address is seen twice.
        if base.grad_fn is not None and storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*args, **kwargs)
    return total, out
