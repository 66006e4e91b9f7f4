"""Interrupt a real ``imgen train sr`` with Ctrl-C (SIGINT), resume it, compare the weights.

    python benchmarks/sr_resume_check.py --steps 40 --interrupt-after 12

Runs the same deterministic training twice through the CLI: once straight through, once
interrupted by SIGINT after some seconds and continued with ``--resume``; then compares every
tensor of the two final checkpoints bit for bit.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from _common import write_json
from safetensors.torch import load_file

from imgen.engine.checkpoint import load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/sr/SunHays80")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--interrupt-after", type=float, default=12.0, help="seconds")
    parser.add_argument("--json", default="benchmarks/results/sr_resume_check.json")
    args = parser.parse_args()

    out = Path(tempfile.mkdtemp(prefix="imgen-resume-"))
    base = [
        "imgen",
        "train",
        "sr",
        "--data",
        args.data,
        "--steps",
        str(args.steps),
        "--batch-size",
        "4",
        "--crop",
        "64",
        "--gan-weight",
        "0.01",
        "--deterministic",
        "--lr-schedule",
        "cosine",
        "--save-every",
        "7",
        "--sample-every",
        "0",
        "--out",
        str(out),
    ]
    subprocess.run([*base, "--name", "straight"], check=True, capture_output=True)

    proc = subprocess.Popen(
        [*base, "--name", "interrupted"], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    time.sleep(args.interrupt_after)
    proc.send_signal(signal.SIGINT)
    proc.wait()
    run = out / "interrupted"
    stopped_at = load_checkpoint(run)[1]["step"]
    subprocess.run(["imgen", "train", "sr", "--resume", str(run)], check=True, capture_output=True)

    a = load_file(str(out / "straight" / "checkpoints" / "last.safetensors"))
    b = load_file(str(run / "checkpoints" / "last.safetensors"))
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    events = [json.loads(x)["event"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    result = {
        "interrupted_at_step": stopped_at,
        "tensors": len(a),
        "differing": differing,
        "identical": not differing and a.keys() == b.keys(),
        "interrupted_event_logged": "interrupted" in events,
    }
    print(
        f"interrupted at step {stopped_at} of {args.steps}; {len(a)} tensors "
        f"(G, D, EMA); bitwise identical after resume: {result['identical']}"
    )
    write_json(args.json, {"command": " ".join(base), **vars(args)}, result)


if __name__ == "__main__":
    main()
