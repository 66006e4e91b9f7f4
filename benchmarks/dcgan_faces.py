"""DCGAN on the LFW faces bundled with scikit-image, 64x64, in a fixed CPU budget.

    python benchmarks/dcgan_faces.py --minutes 10

Trains ``imgen train dcgan`` on the 100 faces of ``skimage.data.lfw_subset()`` (25x25
grayscale, enlarged bicubic to 64x64; ``--channels 1``) for ``--minutes`` of training time,
then draws the final 8x8 sample grid with ``imgen predict --n 64 --seed 0`` into
``benchmarks/results/dcgan_lfw_64.png``, and evaluates the run with ``imgen eval dcgan``
(nearest-real distance ratio and diversity; FID/KID when available) next to the same
evaluation of the untrained generator. Arguments after ``--`` go to ``imgen train dcgan``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import time
from pathlib import Path

from _common import train_and_read, write_json

KEYS = ("nn_rms_fake", "nn_rms_real", "nn_ratio", "diversity")


def untrained(**options) -> dict:
    """The same evaluation of a randomly initialised generator (the run's seed)."""
    import torch

    from imgen.engine.trainer import seed_everything
    from imgen.plugins import create_task

    task = create_task("dcgan")
    cfg = task.Config(**options)
    seed_everything(cfg.seed)
    task.setup(cfg, torch.device("cpu"))
    nets = {k: v.eval() for k, v in task.build(cfg).items()}
    with torch.inference_mode():
        return task.evaluate(nets, None, full=True)["metrics"]


def run_command(command: list[str]) -> str:
    print("$ " + shlex.join(command), flush=True)
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training time budget")
    parser.add_argument("--steps", type=int, default=100_000, help="the run's total steps")
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sample-every", type=int, default=100)
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("--grid", default="benchmarks/results/dcgan_lfw_64.png")
    parser.add_argument("--json", default="benchmarks/results/dcgan_faces.json")
    parser.add_argument("train_args", nargs="*", help="extra options for imgen train dcgan")
    args = parser.parse_args()
    name = time.strftime("dcgan-lfw-%Y%m%d-%H%M%S")
    options = {
        "image_size": 64,
        "channels": 1,
        "ngf": args.ngf,
        "ndf": args.ndf,
        "batch_size": args.batch_size,
    }
    command = ["imgen", "train", "dcgan"]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    command += [
        "--steps",
        str(args.steps),
        "--time-limit",
        str(args.minutes),
        "--sample-every",
        str(args.sample_every),
        "--save-every",
        "500",
        "--log-every",
        "25",
        "--out",
        args.out,
        "--name",
        name,
        *args.train_args,
    ]
    run = Path(args.out) / name
    events = train_and_read(command, run)
    train = [e for e in events if e["event"] == "train"]
    end = next(e for e in reversed(events) if e["event"] == "end")

    Path(args.grid).parent.mkdir(parents=True, exist_ok=True)
    predict = ["imgen", "predict", "--run", str(run), "--n", "64", "--seed", "0", "-o", args.grid]
    run_command(predict)
    final = json.loads(run_command(["imgen", "eval", "dcgan", "--run", str(run), "--json"]))
    baseline = untrained(**options)

    curve = [
        {k: e[k] for k in ("minutes", "step", "d_loss", "g_loss", "d_real", "d_fake")}
        for e in train
    ]
    print(f"\n{'minutes':>8} {'step':>6} {'d_loss':>8} {'g_loss':>8}")
    for e in curve[:: max(1, len(curve) // 12)] + curve[-1:]:
        print(f"{e['minutes']:8.2f} {e['step']:6d} {e['d_loss']:8.4f} {e['g_loss']:8.4f}")
    print(f"\n{'LFW faces, 64x64':<24}" + "".join(f"{k:>13}" for k in KEYS))
    for label, m in (("untrained generator", baseline), ("imgen dcgan, final", final["metrics"])):
        print(f"{label:<24}" + "".join(f"{m.get(k, float('nan')):13.4f}" for k in KEYS))
    for note in final["notes"]:
        print(note)
    print(f"\n{end['step']} steps in {end['minutes']:.2f} training minutes; grid: {args.grid}")
    write_json(
        args.json,
        {"command": shlex.join(command), "predict": shlex.join(predict), **vars(args)},
        {
            "steps": end["step"],
            "train_minutes": end["minutes"],
            "steps_per_s": round(end["step"] / max(end["minutes"] * 60, 1e-9), 4),
            "curve": curve,
            "final": final["metrics"],
            "notes": final["notes"],
            "untrained": baseline,
            "grid": args.grid,
            "grid_bytes": Path(args.grid).stat().st_size,
            "run": str(run),
        },
    )


if __name__ == "__main__":
    main()
