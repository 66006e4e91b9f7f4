"""Start-up of training from a prepared dataset the size of DIV2K's (issue 23: under 10 s).

    python benchmarks/prepared_startup.py --images 8 --copies 100 \
        --json benchmarks/results/prepared_startup.json

Writes `--images` synthetic 2K PNGs (as `imgen bench --sections data`), runs `imgen prepare
--scale 4` on them, then makes the manifest list every sub-image `--copies` times (the same
shard members, so every entry is readable): 8 x 100 gives the 32,000 sub-images of 800
DIV2K-sized images without writing 36 GB. Times, each in a fresh process: building the sr
training dataset of it (manifest, index, shard checks) and its RSS, and a whole
`imgen train sr --steps 1` (command start to exit, model and all) against the same command on
an 8-image folder, so the difference is what the dataset's size costs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_json

PROBE = """
import json, sys, time
import torch, PIL.PngImagePlugin, imgen.data.datasets, imgen.data.prepared  # not the dataset's
from imgen.bench.datasources import _max_rss_mb, _rss_mb
from imgen.plugins import create_task
import imgen_sr.task
task = create_task("sr")
base = _rss_mb()
t0 = time.perf_counter()
ds = task.dataset(task.Config(data=sys.argv[1], scale=4, crop=128), sys.argv[1], "train")
build = time.perf_counter() - t0
ds[(len(ds) - 1, 0)]
print(json.dumps({"samples": len(ds), "build_s": build, "dataset_rss_mb": _rss_mb() - base,
                  "peak_rss_mb": _max_rss_mb()}))
"""


def train_wall(data: Path, out: Path) -> float:
    args = ["train", "sr", "--data", str(data), "--out", str(out), "--steps", "1"]
    args += ["--batch-size", "2", "--crop", "128", "--scale", "4", "--device", "cpu"]
    args += ["--workers", "0", "--perceptual-weight", "0", "--num-block", "1", "--no-download"]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "imgen", *args], capture_output=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from imgen.bench.datasources import make_2k_folder
    from imgen.data.prepared import prepare_folder

    with tempfile.TemporaryDirectory(prefix="imgen-startup-") as tmp:
        tmp = Path(tmp)
        folder, _ = make_2k_folder(tmp / "png", args.images)
        t0 = time.perf_counter()
        prepare_folder(folder, tmp / "ds", scale=4, progress=False)
        prepare_s = time.perf_counter() - t0
        manifest_path = tmp / "ds" / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        manifest["index"] = manifest["index"] * args.copies
        manifest["samples"] = len(manifest["index"])
        manifest_path.write_text(json.dumps(manifest, separators=(",", ":")))
        manifest_mb = manifest_path.stat().st_size / 1e6
        probe = subprocess.run(
            [sys.executable, "-c", PROBE, str(tmp / "ds")],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ,
        )
        dataset = json.loads(probe.stdout.strip().splitlines()[-1])
        prepared_wall = train_wall(tmp / "ds", tmp / "runs")
        folder_wall = train_wall(folder, tmp / "runs")
    result = {
        "images": args.images,
        "copies": args.copies,
        "prepare_s": prepare_s,
        "manifest_mb": manifest_mb,
        **dataset,
        "train_1_step_prepared_s": prepared_wall,
        "train_1_step_folder_s": folder_wall,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(args.json, vars(args), result)


if __name__ == "__main__":
    main()
