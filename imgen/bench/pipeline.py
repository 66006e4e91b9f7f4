"""Data pipeline: what the loader delivers against what the training step consumes.

Per task (its first variant, at imgen's defaults for this device, workers included):

- ``loader_images_per_s``: samples/s out of the trainer's own DataLoader (decoding, or the
  in-memory cache, random crop and flips in the workers), after its first batch;
- ``prepare_images_per_s``: samples/s of the task's ``prepare`` (the move to the device and
  what the task derives there, e.g. SR's batched MATLAB bicubic downscale);
- ``step_images_per_s``: the ``defaults`` training row's samples/s (what the step consumes),
  and ``headroom``, the loader's rate over it (below 1: the loader is the bottleneck);
- ``run_data_wait``: the share of training time spent waiting for data in a real
  ``Trainer.fit()`` run of a few steps (the trainer's own ``data_wait`` in metrics.jsonl,
  from its last logging window, so that worker start-up is left out where the run is long
  enough to log twice).

Where the task's config has a ``cache`` option (decoded images kept in memory), the loader
is also measured without it: every sample decoded from its file, as for a data set larger
than memory.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from imgen.bench.context import Context
from imgen.bench.modes import DEFAULTS
from imgen.bench.timing import median, release, timed_calls
from imgen.bench.training import bench_trainer, one_line
from imgen.bench.variants import Variant


def _loader_rate(trainer: Any, batches: int) -> tuple[float, dict]:
    """Samples/s of the trainer's loader over ``batches`` batches after the first."""
    it = iter(trainer.loader())
    first = next(it)  # worker start-up and the first fetch are not counted
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        batch = next(it)
        n += next(v for v in batch.values() if hasattr(v, "shape")).shape[0]
    rate = n / (time.perf_counter() - t0)
    del it  # stops the workers
    return rate, first


def _has_cache(cfg: Any) -> bool:
    return any(f.name == "cache" for f in dataclasses.fields(cfg)) and cfg.cache is True


def measure_task(ctx: Context, variant: Variant, step_rate: float | None) -> list[dict[str, Any]]:
    """The data rows of ``variant``'s task."""
    from imgen.plugins import create_task

    p = ctx.profile
    base = {"task": variant.task, "variant": variant.name}
    rows = []
    release(ctx.device)
    try:
        task = create_task(variant.task)
        with ctx.capture(variant.label):
            cfg = ctx.config(task, variant, workers=-1)  # imgen's default worker count
            trainer = bench_trainer(task, cfg, DEFAULTS)
        workers = trainer.loader().num_workers
        rate, batch = _loader_rate(trainer, p.loader_batches)
        prepare = median(
            timed_calls(lambda: trainer.prepare_batch(batch), ctx.device, max(3, p.repeats))
        )
        row: dict[str, Any] = {
            **base,
            "status": "ok",
            "cache": getattr(cfg, "cache", None),
            "workers": workers,
            "batch": cfg.batch_size,
            "loader_images_per_s": round(rate, 2),
            "prepare_images_per_s": round(cfg.batch_size / prepare, 2),
            "step_images_per_s": step_rate,
            "headroom": round(rate / step_rate, 3) if step_rate else None,
        }
        row.update(_real_run(ctx, variant, p.run_steps))
        rows.append(row)
        if _has_cache(cfg):
            with ctx.capture(variant.label):
                cfg = dataclasses.replace(cfg, cache=False)
                trainer = bench_trainer(create_task(variant.task), cfg, DEFAULTS)
            rate, _ = _loader_rate(trainer, p.loader_batches)
            rows.append(
                {
                    **base,
                    "status": "ok",
                    "cache": False,
                    "workers": workers,
                    "batch": cfg.batch_size,
                    "loader_images_per_s": round(rate, 2),
                    "step_images_per_s": step_rate,
                    "headroom": round(rate / step_rate, 3) if step_rate else None,
                }
            )
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        rows.append({**base, "status": "failed", "error": one_line(exc)})
    finally:
        release(ctx.device)
    for row in rows:
        ctx.log(_progress(row))
    return rows


def _real_run(ctx: Context, variant: Variant, steps: int) -> dict[str, Any]:
    """``Trainer.fit()`` for ``steps`` steps at the defaults; its logged data wait."""
    from imgen.engine.trainer import Trainer
    from imgen.plugins import create_task

    task = create_task(variant.task)
    # Two logging windows when the run is long enough: the second has no worker start-up.
    log_every = steps // 2 if steps >= 4 else steps
    with ctx.capture(variant.label):
        cfg = ctx.config(task, variant, workers=-1, steps=steps, log_every=log_every)
        run_dir = Trainer(task, cfg, quiet=True).fit()
    events = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").open()]
    train = [e for e in events if e.get("event") == "train"]
    if not train:
        return {"run_data_wait": None}
    last = train[-1]
    return {
        "run_steps": steps,
        "run_data_wait": last.get("data_wait"),
        "run_steps_per_s": last.get("steps_per_s"),
    }


def _progress(row: dict[str, Any]) -> str:
    label = f"data {row['task']}:{row['variant']}"
    if row.get("status") != "ok":
        return f"{label}: {row.get('status')}: {row.get('error')}"
    text = f"{label} cache={row['cache']}: loader {row['loader_images_per_s']:.1f} img/s"
    if row.get("step_images_per_s"):
        text += f", step {row['step_images_per_s']:.1f} img/s"
    if row.get("run_data_wait") is not None:
        text += f", data wait {row['run_data_wait']:.1%} of a real run"
    return text
