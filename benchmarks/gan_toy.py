"""The GAN objective zoo on the 2-D toy: 8 Gaussians on a ring (std 0.02, radius 2).

    python benchmarks/gan_toy.py                      # every objective, seeds 0 1 2
    python benchmarks/gan_toy.py --objectives hinge+SN wgan-gp --seeds 0

Trains the MLP generator and critic of :mod:`imgen.testing.toy` (3 hidden layers of 128) with
each objective of ``imgen.testing.toy.TOY_OBJECTIVES`` through the core's
``discriminator_objective`` / ``generator_objective`` (and ``apply_spectral_norm`` for SN),
then scores 2,500 samples: modes covered (a mode needs 1 % of the samples within 0.1 of its
centre) and the share of samples within 0.1 of a mode centre. Prints a markdown table, writes
benchmarks/results/gan_toy.json.
"""

from __future__ import annotations

import argparse
import inspect
import time
from typing import Any

from _common import write_json

from imgen.testing.toy import TOY_OBJECTIVES, mode_coverage, train_toy_gan


def settings_text(options: dict[str, Any]) -> str:
    """The non-default settings of a row, e.g. ``n_critic 5, steps 1500, lr 0.0005``."""
    return ", ".join(f"{k} {v}" for k, v in options.items() if k not in ("kind", "spectral_norm"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objectives", nargs="+", choices=list(TOY_OBJECTIVES), default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--json", default="benchmarks/results/gan_toy.json")
    args = parser.parse_args()
    names = args.objectives or list(TOY_OBJECTIVES)

    rows = []
    for name in names:
        options = TOY_OBJECTIVES[name]
        for seed in args.seeds:
            wall, cpu = time.perf_counter(), time.process_time()
            samples = train_toy_gan(**options, seed=seed)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            modes, share = mode_coverage(samples)
            rows.append(
                {
                    "objective": name,
                    "options": options,
                    "seed": seed,
                    "modes": modes,
                    "share_within_0.1": round(share, 4),
                    "seconds": round(wall, 1),
                    "cpu_seconds": round(cpu, 1),
                }
            )
            print(
                f"{name:<11} seed {seed}: {modes} modes, {100 * share:5.1f} % within 0.1, "
                f"{wall:.1f} s ({cpu:.1f} s CPU)",
                flush=True,
            )

    print()
    print("| objective | settings | modes covered | share within 0.1 | s / run | CPU s / run |")
    print("|---|---|---:|---:|---:|---:|")
    for name in names:
        runs = [r for r in rows if r["objective"] == name]
        modes = " / ".join(str(r["modes"]) for r in runs)
        shares = " / ".join(f"{100 * r['share_within_0.1']:.0f}" for r in runs)
        wall = sum(r["seconds"] for r in runs) / len(runs)
        cpu = sum(r["cpu_seconds"] for r in runs) / len(runs)
        text = settings_text(TOY_OBJECTIVES[name]) or "-"
        print(f"| {name} | {text} | {modes} | {shares} % | {wall:.0f} | {cpu:.0f} |")

    defaults = {
        k: v.default
        for k, v in inspect.signature(train_toy_gan).parameters.items()
        if v.default is not v.empty
    }
    settings = {
        "target": "8 Gaussians on a ring, radius 2, std 0.02",
        "networks": "MLPs, 3 hidden layers of 128; G ReLU, critic LeakyReLU(0.2)",
        "samples": 2500,
        "good_sample": "within 0.1 of a mode centre",
        "mode_covered": "at least 1 % of the samples are good samples of it",
        "seeds": args.seeds,
        "defaults": {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()},
        "objectives": {name: TOY_OBJECTIVES[name] for name in names},
    }
    write_json(args.json, settings, rows)


if __name__ == "__main__":
    main()
