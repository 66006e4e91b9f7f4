"""How the training batch-memory check compares with the memory a step really takes.

``imgen train`` refuses a micro-batch that the free memory cannot hold, from the generator's
step measured on one sample (:func:`imgen.engine.device.saved_activation_bytes` of the forward
and the generator loss). That measure must be a lower bound, or the check would refuse batches
that fit. This script trains two steps at two batch sizes, each in a fresh process, and
compares the measure with the growth of the peak RSS per sample between them.

    python benchmarks/batch_memory.py            # srresnet and compact, crop 96, GAN from step 0
    python benchmarks/batch_memory.py --generators rrdbnet --batches 2 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import write_json

CHILD = """
import json, resource, sys
from imgen.engine.trainer import Trainer
from imgen.plugins import create_task

generator, crop, batch, data, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]
task = create_task("sr")
cfg = task.Config(data=data, out=out, steps=2, batch_size=batch, crop=crop, generator=generator,
                  workers=0, sample_every=0, pretrain_steps=0)
trainer = Trainer(task, cfg, quiet=True)
sample = trainer.sample_bytes()  # what the batch-memory check measures
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
trainer.fit()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"sample_bytes": sample, "before_kb": before, "after_kb": after}))
"""


def write_photos(folder: Path) -> None:
    import imageio.v3 as iio
    import skimage.data

    folder.mkdir(parents=True)
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        iio.imwrite(folder / f"{name}.png", getattr(skimage.data, name)())


def measure(generator: str, crop: int, batch: int, data: Path, out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, generator, str(crop), str(batch), str(data), str(out)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", nargs="+", default=["srresnet", "compact"])
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--batches", nargs=2, type=int, default=[8, 40])
    parser.add_argument("--json", default="benchmarks/results/batch_memory.json")
    args = parser.parse_args()
    small, large = args.batches

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "photos"
        write_photos(data)
        for generator in args.generators:
            runs = {
                b: measure(generator, args.crop, b, data, Path(tmp) / "runs")
                for b in (small, large)
            }
            measured = round(runs[small]["sample_bytes"] / 2**20, 1)
            peaks = {b: runs[b]["after_kb"] / 1024 for b in (small, large)}
            growth = (peaks[large] - peaks[small]) / (large - small)
            rows.append(
                {
                    "generator": generator,
                    "measured_mb_per_sample": measured,
                    f"peak_rss_mb_batch_{small}": round(peaks[small]),
                    f"peak_rss_mb_batch_{large}": round(peaks[large]),
                    "peak_growth_mb_per_sample": round(growth, 1),
                    "measured_over_growth": round(measured / growth, 2),
                }
            )
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    settings = {
        "task": "sr",
        "crop": args.crop,
        "batches": args.batches,
        "steps": 2,
        "pretrain_steps": 0,
        "data": "skimage astronaut, chelsea, coffee, rocket",
    }
    write_json(args.json, settings, rows)


if __name__ == "__main__":
    main()
