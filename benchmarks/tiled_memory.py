"""Peak memory of tiled prediction of a large photo: `imgen predict --tile` under /usr/bin/time.

    python benchmarks/tiled_memory.py --label after
    python benchmarks/tiled_memory.py --label "auto-tiled" --tile auto
    python benchmarks/tiled_memory.py --label before --pythonpath OLD_CHECKOUT:OLD_CHECKOUT/plugins

Makes a WIDTHxHEIGHT photo (scikit-image's astronaut, resized with Lanczos), an SR run
(`imgen train sr --steps 1`: the weights do not matter for memory, the architecture does), and
runs `imgen predict --run RUN PHOTO -o OUT --tile T` under `/usr/bin/time -v`, reading its
"Maximum resident set size" and wall time (`--tile auto`: no `--tile`, so predict picks a tile
by itself when the whole image would not fit; what it said is kept as "said").
`--pythonpath` runs another checkout of imgen (before/after comparisons); results are merged
into the JSON file by label.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import write_json
from PIL import Image


def make_photo(path: Path, width: int, height: int) -> None:
    import skimage.data

    photo = Image.fromarray(np.asarray(skimage.data.astronaut()))
    photo.resize((width, height), Image.Resampling.LANCZOS).save(path)


def imgen(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "imgen", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="Row name, e.g. before / after.")
    parser.add_argument("--pythonpath", default=None, help="Run the imgen found here instead.")
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--generator", default="srresnet")
    parser.add_argument("--tile", default="256", help="tile side, or auto (no --tile)")
    parser.add_argument("--threads", type=int, default=0, help="OMP threads (0: torch's).")
    parser.add_argument("--json", default="benchmarks/results/tiled_memory.json")
    args = parser.parse_args()

    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photo = work / "photo.png"
        make_photo(photo, args.width, args.height)
        train = [
            "train", "sr", "--out", str(work / "runs"), "--name", "run", "--steps", "1",
            "--batch-size", "1", "--scale", str(args.scale), "--generator", args.generator,
            "--gan-weight", "0", "--sample-every", "0", "--workers", "0",
        ]  # fmt: skip
        subprocess.run(imgen(train), env=env, check=True, stdout=subprocess.DEVNULL, cwd=work)
        predict = [
            "predict", "--run", str(work / "runs" / "run"), str(photo), "-o", str(work / "out"),
        ]  # fmt: skip
        if args.tile != "auto":
            predict += ["--tile", str(int(args.tile))]
        command = ["/usr/bin/time", "-v", *imgen(predict)]
        print("$ " + " ".join(command), flush=True)
        # cwd: `python -m` puts the working directory first on sys.path, which would shadow
        # --pythonpath with the checkout the script is run from.
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=work)
        if done.returncode:
            sys.exit(done.stderr)
        report = done.stderr
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", report).group(1)
    said = [x for x in report.splitlines() if x.startswith("imgen:")]
    row = {"label": args.label, "tile": args.tile, "peak_rss_gb": round(peak_kb / 1024**2, 3)}
    row.update(wall=wall, threads=args.threads or None, said=said)
    print(json.dumps(row))

    path = Path(args.json)
    rows = json.loads(path.read_text())["results"] if path.exists() else []
    rows = [r for r in rows if r["label"] != args.label] + [row]
    settings = {
        "image": f"{args.width}x{args.height}",
        "scale": args.scale,
        "generator": args.generator,
        "command": "imgen predict --run RUN photo.png -o OUT [--tile T]",
        "output_uint8_gb": round(args.width * args.height * args.scale**2 * 3 / 1024**3, 3),
    }
    write_json(path, settings, rows)


if __name__ == "__main__":
    main()
