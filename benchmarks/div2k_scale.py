"""Training on a DIV2K-sized set after `imgen prepare`: start-up, memory per rank, data wait.

    python benchmarks/div2k_scale.py --json benchmarks/results/div2k_scale.json

Issue 23's acceptance, end to end, as a user runs it:

1. `--images` (default 800, DIV2K's count) synthetic 2040x1356 PNGs made from scikit-image's
   photos (as `imgen bench --sections data`), in a temporary folder (or `--work DIR`, kept
   and reused on a rerun);
2. `imgen prepare --data PNGS -o DATASET --scale 4` (timed: sub-images, shards, bytes);
3. `imgen train sr --data DATASET --nproc 2 --workers 2` (two DDP ranks on gloo, each with two
   loader workers), a PSNR srresnet (`--gan-weight 0`: the fastest step, so the one that asks
   the most of the loader), batch 16 of 128-pixel crops, `--steps` steps, logging every
   `--log-every`;
4. the same command on a folder of 8 of the PNGs (the cost of imports, model and DDP set-up,
   not of the data), for comparison.

While training runs, every process of the launch is sampled from /proc every 0.2 s: a rank is
the process whose RANK differs from its parent's, its loader workers are its children. Per
rank: the rank process's peak RSS (VmHWM), and the peak of the rank's and its workers' summed
PSS (proportional set size: pages shared after the fork counted once, not once per process).
Start-up: from the command's launch to the "start" record of metrics.jsonl (the first step
begins) and to the first logged step. Data wait: the trainer's own `data_wait` (share of
training time spent waiting for a batch) of every logging window but the first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import write_json


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _field(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def _rank_of(pid: int) -> str | None:
    for item in _read(f"/proc/{pid}/environ").split("\0"):
        if item.startswith("RANK="):
            return item[5:]
    return None


def _parents() -> dict[int, int]:
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _read(f"/proc/{name}/stat")
            if stat:
                out[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


class Sampler(threading.Thread):
    """Peak memory per rank of the processes under `root`, sampled from /proc."""

    def __init__(self, root: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root, every
        self.stop = threading.Event()
        self.rank_hwm_kb: dict[str, int] = {}
        self.group_pss_kb: dict[str, int] = {}
        self.workers: dict[str, set[int]] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.every)

    def sample(self) -> None:
        parents = _parents()
        below, frontier = set(), {self.root}
        while frontier:
            frontier = {p for p, parent in parents.items() if parent in frontier} - below
            below |= frontier
        groups: dict[str, int] = {}
        for pid in below:
            rank = _rank_of(pid)
            if rank is None:
                continue
            pss = _field(_read(f"/proc/{pid}/smaps_rollup"), "Pss")
            groups[rank] = groups.get(rank, 0) + pss
            if _rank_of(parents.get(pid, 0)) == rank:  # a loader worker of that rank
                self.workers.setdefault(rank, set()).add(pid)
            else:
                hwm = _field(_read(f"/proc/{pid}/status"), "VmHWM")
                self.rank_hwm_kb[rank] = max(self.rank_hwm_kb.get(rank, 0), hwm)
        for rank, kb in groups.items():
            self.group_pss_kb[rank] = max(self.group_pss_kb.get(rank, 0), kb)


def train(data: Path, out: Path, name: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "imgen", "train", "sr", "--data", str(data)]
    command += ["--nproc", "2", "--workers", "2", "--device", "cpu", "--scale", "4"]
    command += ["--gan-weight", "0", "--batch-size", "16", "--crop", "128"]
    command += ["--steps", str(args.steps), "--log-every", str(args.log_every)]
    command += ["--sample-every", "0", "--save-every", "0", "--no-download"]
    command += ["--out", str(out), "--name", name]
    print("$ " + " ".join(command[2:]).replace(sys.executable, "python"), flush=True)
    launched = time.time()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = Sampler(process.pid)
    sampler.start()
    _, stderr = process.communicate()
    sampler.stop.set()
    sampler.join()
    if process.returncode:
        sys.exit(stderr.decode()[-3000:])
    events = [json.loads(x) for x in (out / name / "metrics.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["event"] == "start")
    steps = [e for e in events if e["event"] == "train"]
    waits = [e["data_wait"] for e in steps[1:]] or [steps[0]["data_wait"]]
    mb = 1 / 1024
    return {
        "start_s": round(start["time"] - launched, 2),
        "first_log_s": round(steps[0]["time"] - launched, 2),
        "steps": steps[-1]["step"],
        "steps_per_s": steps[-1]["steps_per_s"],
        "data_wait_mean": round(sum(waits) / len(waits), 4),
        "data_wait_max": max(waits),
        "data_wait_windows": waits,
        "rank_peak_rss_mb": {r: round(v * mb) for r, v in sorted(sampler.rank_hwm_kb.items())},
        "rank_with_workers_peak_pss_mb": {
            r: round(v * mb) for r, v in sorted(sampler.group_pss_kb.items())
        },
        "workers_seen": {r: len(v) for r, v in sorted(sampler.workers.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=800)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--work", default=None, help="keep the PNGs and dataset here")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from imgen.bench.datasources import make_2k_folder

    with tempfile.TemporaryDirectory(prefix="imgen-div2k-") as tmp:
        work = Path(args.work or tmp)
        pngs, dataset = work / "png2k", work / "prepared"
        result: dict = {"images": args.images}
        if len(list(pngs.glob("*.png"))) != args.images:
            shutil.rmtree(pngs, ignore_errors=True)
            t0 = time.perf_counter()
            make_2k_folder(pngs, args.images)
            result["write_s"] = round(time.perf_counter() - t0, 1)
        result["png_mb"] = round(sum(p.stat().st_size for p in pngs.glob("*.png")) / 1e6)
        prepare = [sys.executable, "-m", "imgen", "prepare", "--data", str(pngs)]
        prepare += ["-o", str(dataset), "--scale", "4"]
        print("$ imgen " + " ".join(prepare[3:]), flush=True)
        t0 = time.perf_counter()
        subprocess.run(prepare, check=True, stderr=subprocess.DEVNULL)
        result["prepare_s"] = round(time.perf_counter() - t0, 1)
        manifest = json.loads((dataset / "manifest.json").read_text())
        result["sub_images"] = manifest["samples"]
        result["shards"] = len(manifest["shards"])
        result["prepared_mb"] = round(sum(p.stat().st_size for p in dataset.glob("*.tar")) / 1e6)
        small = work / "png8"
        small.mkdir(exist_ok=True)
        for p in sorted(pngs.glob("*.png"))[:8]:
            shutil.copy(p, small / p.name)
        runs = work / "runs"
        shutil.rmtree(runs, ignore_errors=True)
        result["prepared"] = train(dataset, runs, "prepared", args)
        result["folder_8_images"] = train(small, runs, "folder8", args)
    print(json.dumps(result, indent=2))
    rows = [("prepared DIV2K-sized", result["prepared"])]
    rows.append(("8-image folder", result["folder_8_images"]))
    print("\n| data | start s | first log s | rank peak RSS MB | rank + workers PSS MB |", end="")
    print(" data wait |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, r in rows:
        rss = " / ".join(map(str, r["rank_peak_rss_mb"].values()))
        pss = " / ".join(map(str, r["rank_with_workers_peak_pss_mb"].values()))
        wait = f"{r['data_wait_mean']:.1%} (max {r['data_wait_max']:.1%})"
        print(f"| {label} | {r['start_s']} | {r['first_log_s']} | {rss} | {pss} | {wait} |")
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        settings["train"] = (
            "imgen train sr --data DATASET --nproc 2 --workers 2 --device cpu --gan-weight 0 "
            "--batch-size 16 --crop 128 --scale 4"
        )
        write_json(args.json, settings, result)


if __name__ == "__main__":
    main()
