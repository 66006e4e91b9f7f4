"""Which models of a task the suite benchmarks, at which batch and crop.

A task declares its variants with a class attribute, plain data so that a plugin need not
import the benchmark code::

    class MyTask(Task):
        bench_variants = [
            {"name": "small", "options": {"generator": "small"}},
            {"name": "big", "options": {"generator": "big"}, "cpu": {"crop": 64}},
        ]

``options`` are config fields set for every row of the variant; ``cpu`` / ``cuda`` add
fields for one device type (e.g. a crop the network accepts at the CPU's smaller sizes). A
task that declares none (:attr:`imgen.task.Task.bench_variants`' default) is benchmarked
once, with its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imgen.errors import UsageError


@dataclass(frozen=True)
class Profile:
    """Sizes of one suite run: training batch and crop, timed steps, inference image size."""

    batch_size: int
    crop: int
    warmup: int
    steps: int
    size: int  # inference: output side in pixels
    repeats: int  # inference and metrics: timed repeats
    loader_batches: int  # data pipeline: batches read from the loader
    run_steps: int  # data pipeline: steps of the real run whose data wait is read
    metric_images: int
    metric_size: int
    matmul_size: int
    matmul_repeats: int
    budget_minutes: float | None  # compiled modes are skipped after this (None: no limit)
    degradation_batch: int = 16  # degradation: HR crops per timed batch
    degradation_crop: int = 128  # degradation: their side


PROFILES = {
    # GPU: the batch 16 of 256x256 HR crops, 2048x2048 images.
    ("cuda", False): Profile(16, 256, 3, 10, 2048, 5, 20, 60, 8, 1024, 8192, 10, 6.0, 16, 256),
    ("cuda", True): Profile(16, 256, 2, 5, 2048, 3, 10, 30, 4, 1024, 8192, 5, None, 16, 256),
    # CPU (2 cores): small batches and crops, so that the suite fits its 10 / 30 minutes;
    # the degradations at the 16 x 128 (the defaults of the last two fields).
    ("cpu", False): Profile(4, 96, 2, 5, 512, 2, 8, 6, 4, 512, 2048, 5, 25.0),
    ("cpu", True): Profile(4, 64, 1, 3, 512, 1, 4, 4, 2, 512, 2048, 3, None),
}


def profile(device_type: str, quick: bool) -> Profile:
    return PROFILES[("cuda" if device_type == "cuda" else "cpu", quick)]


@dataclass(frozen=True)
class Variant:
    """One benchmarked model of a task: ``task:name`` with its config options."""

    task: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    by_device: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.task}:{self.name}"

    def options_for(self, device_type: str) -> dict[str, Any]:
        return {**self.options, **self.by_device.get(device_type, {})}


def _parse(task: str, spec: Any) -> Variant:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise UsageError(
            f"task {task!r} declares a bench variant {spec!r}; each must be a dict with a "
            '"name" and optional "options", "cpu" and "cuda" dicts'
        )
    return Variant(
        task,
        spec["name"],
        dict(spec.get("options", {})),
        {k: dict(spec[k]) for k in ("cpu", "cuda") if k in spec},
    )


def task_variants(task: Any) -> list[Variant]:
    """The variants a task declares (:attr:`imgen.task.Task.bench_variants`)."""
    return [_parse(task.name, spec) for spec in task.bench_variants]


def select(task: Any, wanted: str | None) -> list[Variant]:
    """All variants of ``task``, or the one named ``wanted`` (``imgen bench sr:rrdbnet``)."""
    variants = task_variants(task)
    if wanted is None:
        return variants
    for variant in variants:
        if variant.name == wanted:
            return [variant]
    names = ", ".join(v.name for v in variants)
    raise UsageError(f"task {task.name!r} has no bench variant {wanted!r}; it has: {names}")
