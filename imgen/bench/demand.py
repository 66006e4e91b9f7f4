"""How many loader workers a GPU needs: a training step's crop demand at a given MFU.

The data section's last line (issue 23): the step of a task's GPU configuration (declared in
its ``prepared_data["demand"]``, e.g. sr's RRDBNet at batch 16 of 128-pixel crops) is counted
with :func:`imgen.bench.flops.count_flops` on this machine, at batch 1 and multiplied by the
batch (convolutions' FLOPs are linear in it), for each of its phases. On a GPU of peak ``P``
TFLOP/s at a model-FLOPs utilisation ``u``, one step takes ``flops / (u P)`` seconds and eats
``samples_per_step`` crops, so the loader must deliver ``u P samples / flops`` crops/s; divided
by the crops/s one worker core gets from the prepared shards (measured in the same section),
that is the number of workers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from imgen.bench.context import Context
from imgen.bench.flops import count_flops
from imgen.bench.modes import DEFAULTS
from imgen.bench.training import bench_trainer
from imgen.bench.variants import select

# Dense (no 2:4 sparsity) bf16 tensor-core peak, NVIDIA H100 SXM5 datasheet.
GPU_PEAKS_TFLOPS = {"H100 SXM": 989.4}
MFU = 0.40  # what a well-fed convolutional training step reaches (imgen bench's reference)


def step_flops(ctx: Context, task_name: str, variant_name: str, **fields: Any) -> dict[str, Any]:
    """FLOPs and crops of one training step at batch 1 of `variant_name` with `fields`: the
    declared model, without the run's overrides (``--set num_block=1`` shrinks the timed
    rows, not the GPU run whose demand is estimated)."""
    from imgen.plugins import create_task

    task = create_task(task_name)
    (variant,) = select(task, variant_name)
    declared = dataclasses.replace(ctx, overrides={})
    with ctx.capture(variant.label):
        cfg = declared.config(task, variant, **{**fields, "batch_size": 1})
        trainer = bench_trainer(task, cfg, DEFAULTS)
        batch = next(iter(trainer.loader()))
        for net in trainer.nets.values():
            net.train()
        flops, _ = count_flops(lambda: trainer.train_step(iter([batch] * 8)))
    return {"flops": flops, "samples": trainer.samples_per_step}


def shard_rates(sources: dict[str, Any], crop: int) -> dict[str, float]:
    """Crops/s per core of the prepared shards at `crop`, by degradation, from the data
    sources' report (:func:`imgen.bench.datasources.measure`)."""
    rates = {}
    for source in sources["sources"]:
        if source.get("source") == "prepared" and source.get("status") == "ok":
            for r in source["rows"]:
                if r["crop"] == crop:
                    label = r["degradation"] + (" (LR stored)" if r["lr_stored"] else "")
                    rates[label] = r["crops_per_s"]
    return rates


def measure(ctx: Context, task_name: str, sources: dict[str, Any]) -> dict[str, Any] | None:
    """Workers per GPU of ``GPU_PEAKS_TFLOPS`` for each phase of the task's demand, at each
    prepared-shard rate of the data sources' report `sources`; None if the task declares no
    demand."""
    from imgen.plugins import create_task

    spec = (type(create_task(task_name)).prepared_data or {}).get("demand")
    if not spec:
        return None
    batch, crop = spec["batch_size"], spec["crop"]
    rates = shard_rates(sources, crop)
    phases = []
    for phase, fields in spec["phases"].items():
        ctx.log(f"data sources: FLOPs of {task_name}:{spec['variant']}, {phase}")
        one = step_flops(ctx, task_name, spec["variant"], crop=crop, **fields)
        flops, samples = one["flops"] * batch, one["samples"] * batch
        gpus = {}
        for gpu, peak in GPU_PEAKS_TFLOPS.items():
            crops_per_s = MFU * peak * 1e12 * samples / flops
            gpus[gpu] = {
                "steps_per_s": MFU * peak * 1e12 / flops,
                "crops_per_s": crops_per_s,
                "workers": {k: math.ceil(crops_per_s / r) for k, r in rates.items() if r > 0},
            }
        phases.append(
            {"phase": phase, "options": fields, "tflops_per_step": flops / 1e12, "gpus": gpus}
        )
    return {
        "variant": f"{task_name}:{spec['variant']}",
        "batch_size": batch,
        "crop": crop,
        "mfu": MFU,
        "peaks_tflops": GPU_PEAKS_TFLOPS,
        "worker_rates": rates,
        "phases": phases,
    }


def demand_lines(d: dict[str, Any]) -> list[str]:
    """One sentence per phase and GPU, for the data sources' table."""
    lines = []
    for p in d["phases"]:
        for gpu, g in p["gpus"].items():
            workers = ", ".join(f"{n} for {k}" for k, n in g["workers"].items())
            lines.append(
                f"{gpu} at {d['mfu']:.0%} MFU of {d['peaks_tflops'][gpu]:g} TFLOP/s, "
                f"{d['variant']} batch {d['batch_size']} of {d['crop']} crops, {p['phase']}: "
                f"{p['tflops_per_step']:.2f} TFLOP/step, {g['steps_per_s']:.1f} steps/s, "
                f"{g['crops_per_s']:.0f} crops/s: {workers} (prepared shards, workers of "
                "this machine's cores)"
            )
    return lines
