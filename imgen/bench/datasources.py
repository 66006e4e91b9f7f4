"""Where training crops come from: 2K PNGs decoded per crop, prepared shards, or memory.

The data section's second table (issue 23). A folder of synthetic 2K photos (DIV2K's size,
2040x1356: scikit-image's photos resized, each with its own crop, flips and a little seeded
noise so that the files are as hard to compress as photos) is read three ways by the training
dataset of the first benchmarked task that declares ``prepared_data`` (the task contract:
which ``imgen prepare`` options and which config rows to compare):

- ``folder``: ``--no-cache``, every crop decodes a whole 2K PNG;
- ``prepared``: the folder after ``imgen prepare`` with the task's options (480-pixel
  sub-images in tar shards), every crop decodes one sub-image (and any stored LR it reads);
- ``cached``: ``--cache``, every image decoded once at start-up, crops cut from memory.

Each source runs in a fresh process on one thread (a loader worker is one core), so its
start-up (building the first dataset: headers, manifest, or decoding everything) and its peak
RSS are its own. Crops/s are ``ds[(index, seed)]`` in the training stream's order, for 128
and 256 GT crops and each of the task's config rows (for sr: bicubic and realesrgan, which
draws its per-sample parameters in the loader; the degradation itself runs on the device, in
the step). Files are read warm from the page cache, as they are once training runs.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

SOURCES = ("folder", "prepared", "cached")
CROPS = (128, 256)
SIZE_2K = (1356, 2040)  # (height, width) of a typical DIV2K training image


def _write_2k(root: str, index: int, name: str, image: np.ndarray) -> int:
    from PIL import Image

    rng = np.random.default_rng(index)
    height, width = SIZE_2K
    h, w = image.shape[:2]
    side = int(min(h, w) * rng.uniform(0.7, 1.0))  # each file its own crop of the photo
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = Image.fromarray(image[top : top + side, left : left + side]).convert("RGB")
    big = np.asarray(crop.resize((width, height), Image.BICUBIC), dtype=np.float32)
    if index % 2:
        big = big[:, ::-1]
    big = big + rng.normal(0, 3, big.shape).astype(np.float32)  # texture, as photos have
    path = Path(root) / f"{index:04d}.png"
    Image.fromarray(np.clip(big, 0, 255).round().astype(np.uint8)).save(path, compress_level=3)
    return path.stat().st_size


def make_2k_folder(root: str | Path, count: int, workers: int = 0) -> tuple[Path, int]:
    """Write `count` synthetic 2K PNGs to `root`; returns the folder and their total bytes."""
    from imgen.bench.datafolder import photos

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    found = photos()
    jobs = [(str(root), i, *found[i % len(found)]) for i in range(count)]
    workers = workers or (os.cpu_count() or 1)
    if workers == 1 or count == 1:
        sizes = [_write_2k(*job) for job in jobs]
    else:
        with ProcessPoolExecutor(min(workers, count)) as pool:
            sizes = list(pool.map(_write_2k, *zip(*jobs, strict=True)))
    return root, sum(sizes)


def _max_rss_mb() -> float:
    """Peak resident memory of this process. Linux: VmHWM, since ru_maxrss survives exec and
    would report the parent's peak at the fork."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def _rss_mb() -> float | None:
    """Resident memory now (Linux: /proc), None where it cannot be read."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return None


def prepared_reader(variants: list[Any]) -> str | None:
    """The first benchmarked task whose dataset reads prepared folders, None if there is none."""
    from imgen.plugins import create_task

    for name in dict.fromkeys(v.task for v in variants):
        if getattr(type(create_task(name)), "prepared_data", None):
            return name
    return None


def _datasets(task_name: str, source: str, root: str) -> tuple[dict[str, Any], float]:
    """The task's training dataset of `root` for each of its config rows, as training builds
    them; and the seconds the first took (the start-up)."""
    import dataclasses

    from imgen.plugins import create_task

    task = create_task(task_name)
    base = task.Config(data=root, crop=max(CROPS))
    if any(f.name == "cache" for f in dataclasses.fields(base)):
        base = dataclasses.replace(base, cache=source == "cached")
    out, startup = {}, 0.0
    for label, changes in type(task).prepared_data["configs"].items():
        cfg = dataclasses.replace(base, **changes)
        started = time.perf_counter()
        out[label] = task.dataset(cfg, root, "train")
        startup = startup or time.perf_counter() - started
    return out, startup


def measure_source(task_name: str, source: str, root: str, seconds: float) -> dict[str, Any]:
    """Start-up, crops/s per core and peak RSS of one source (run in a fresh process)."""
    import importlib

    import torch

    import imgen.data.prepared  # noqa: F401  (imports: the baseline, not the dataset)
    from imgen.data.sampler import SampleStream
    from imgen.plugins import create_task

    torch.set_num_threads(1)
    importlib.import_module(type(create_task(task_name)).__module__)
    base_rss = _rss_mb()
    sets, startup = _datasets(task_name, source, root)
    rows = []
    for label, ds in sets.items():
        for crop in CROPS:
            ds.crop = crop
            stream = iter(SampleStream(len(ds), base_seed=crop))
            ds[next(stream)]  # untimed: first touch of the file descriptors
            count, begin = 0, time.perf_counter()
            while count < 3 or (time.perf_counter() - begin < seconds and count < 5000):
                item = ds[next(stream)]
                count += 1
            elapsed = time.perf_counter() - begin
            rows.append(
                {
                    "source": source,
                    "crop": crop,
                    "degradation": label,
                    "crops_per_s": count / elapsed,
                    "lr_stored": "lr" in item,
                }
            )
    now = _rss_mb()
    return {
        "source": source,
        "samples": len(next(iter(sets.values()))),
        "startup_s": startup,
        "peak_rss_mb": _max_rss_mb(),
        "base_rss_mb": base_rss,  # after imports, before the dataset
        "dataset_rss_mb": None if now is None or base_rss is None else now - base_rss,
        "rows": rows,
    }


def _run_child(task: str, source: str, root: Path, seconds: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "imgen.bench.datasources", task, source, str(root)]
    command.append(str(seconds))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return {"source": source, "status": "failed", "error": lines[-1] if lines else "?"}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def measure(
    tmp: str | Path,
    images: int,
    *,
    task: str,
    quick: bool = False,
    seconds: float | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """The whole comparison on `images` synthetic 2K PNGs written under `tmp`, read by
    `task`'s dataset; each rate is timed for `seconds` (default 3, --quick 0.5)."""
    from imgen.data.prepared import prepare_folder
    from imgen.plugins import create_task

    options = type(create_task(task)).prepared_data.get("prepare", {})

    tmp = Path(tmp)
    log(f"data sources: writing {images} 2K PNGs")
    started = time.perf_counter()
    folder, folder_bytes = make_2k_folder(tmp / "png2k", images)
    made = time.perf_counter() - started
    log(f"data sources: imgen prepare {options}")
    started = time.perf_counter()
    result = prepare_folder(folder, tmp / "prepared", progress=False, **options)
    prepare_s = time.perf_counter() - started
    seconds = seconds if seconds is not None else (0.5 if quick else 3.0)
    sources = []
    for source in SOURCES:
        root = tmp / "prepared" if source == "prepared" else folder
        log(f"data sources: {source}")
        sources.append(_run_child(task, source, root, seconds))
    return {
        "task": task,
        "prepare_options": options,
        "images": images,
        "image_size": f"{SIZE_2K[1]}x{SIZE_2K[0]}",
        "folder_mb": folder_bytes / 1e6,
        "write_s": made,
        "prepare_s": prepare_s,
        "prepare_workers": os.cpu_count() or 1,
        "prepared_mb": result.bytes / 1e6,
        "sub_images": result.samples,
        "sources": sources,
    }


if __name__ == "__main__":  # one source, in its own process: see _run_child
    print(json.dumps(measure_source(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))))
