"""What data-parallel training costs: a plain run against torchrun with 1 (and N) ranks.

    python benchmarks/ddp_overhead.py --json benchmarks/results/ddp_overhead.json

The same `imgen train sr` run (srresnet x4, PSNR-oriented, global batch --batch-size) three
ways: plain; `torchrun --standalone --nproc-per-node 1 -m imgen train ...`; and with
--nproc ranks. Each reads steps/s of the second half of its steps from metrics.jsonl (the
engine's clock counts training time only: no start-up, no checkpoint), and the result is the
ratio to the plain run. Repeated --repeats times, alternating, median taken. On a CPU the
ranks share its cores, so N ranks do not add compute: that row shows the cost of the gradient
all-reduce, not a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import write_json


def steps_per_s(run: Path) -> float:
    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [e for e in events if e["event"] == "train"][-1]["steps_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default="benchmarks/results/ddp_overhead.json")
    args = parser.parse_args()

    train = [
        "train", "sr", "--gan-weight", "0", "--steps", str(args.steps), "--batch-size",
        str(args.batch_size), "--crop", str(args.crop), "--log-every", str(args.steps // 2),
        "--sample-every", "0", "--save-every", "0", "--device", args.device, "--workers", "0",
    ]  # fmt: skip
    imgen = [sys.executable, "-m", "imgen"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    ways = {
        "plain": imgen + train,
        "torchrun 1 rank": [*torchrun, "--nproc-per-node", "1", "-m", "imgen", *train],
        f"--nproc {args.nproc}": [*imgen, *train, "--nproc", str(args.nproc)],
    }
    results: dict[str, list[float]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name, command in ways.items():
                run = Path(tmp) / f"{name.replace(' ', '_')}-{repeat}"
                full = [*command, "--out", str(run.parent), "--name", run.name]
                # One process uses every core; torchrun gives N ranks one thread each.
                env = {**os.environ, "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
                if name.startswith("--nproc"):
                    env.pop("OMP_NUM_THREADS")
                subprocess.run(full, check=True, capture_output=True, env=env)
                results[name].append(steps_per_s(run))
                print(name, results[name][-1], flush=True)
    plain = statistics.median(results["plain"])
    rows = [
        {
            "way": name,
            "steps_per_s": round(statistics.median(values), 4),
            "all": values,
            "vs_plain": round(statistics.median(values) / plain, 3),
        }
        for name, values in results.items()
    ]
    print("\n| run | steps/s (median) | vs plain |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['way']} | {r['steps_per_s']} | {r['vs_plain']}x |")
    settings = {k: getattr(args, k) for k in ("steps", "batch_size", "crop", "nproc", "repeats")}
    settings["device"] = args.device
    settings["command"] = " ".join(train)
    write_json(args.json, settings, rows)


if __name__ == "__main__":
    main()
