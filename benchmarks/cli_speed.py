"""How fast the everyday commands answer, against `imgen --help` in the same run.

    python benchmarks/cli_speed.py --json benchmarks/results/cli_speed.json

Each command runs --repeats times in a fresh process (median wall time); `imgen models` is
timed twice: its first run (the parameter cache of this set of plugin versions emptied) and
a cached one. The ratio to `imgen --help` is what to compare across machines; the goals of
issue 16: `train TASK --help` under 1 s, `models` under 2 s on the project's 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import write_json

COMMANDS = [
    ["--help"],
    ["--version"],
    ["tasks"],
    ["train", "sr", "--help"],
    ["eval", "sr", "--help"],
    ["train", "translate", "--help"],
    ["train", "style", "--help"],
    ["train", "dcgan", "--help"],
    ["predict", "--help"],
    ["models"],
]


def wall(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "imgen", *args], env=env, capture_output=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="benchmarks/results/cli_speed.json")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "IMGEN_CACHE": cache}
        first_models = wall(["models"], env)  # an empty cache: every model is built
        for command in COMMANDS:
            times = [wall(command, env) for _ in range(args.repeats)]
            rows.append(
                {"command": "imgen " + " ".join(command), "seconds": statistics.median(times)}
            )
    base = rows[0]["seconds"]
    rows.append({"command": "imgen models (first run, empty cache)", "seconds": first_models})
    for row in rows:
        row["seconds"] = round(row["seconds"], 3)
        row["vs_help"] = round(row["seconds"] / base, 2)
    print("| command | seconds (median) | x `imgen --help` |\n|---|---:|---:|")
    for row in rows:
        print(f"| `{row['command']}` | {row['seconds']} | {row['vs_help']} |")
    write_json(args.json, {"repeats": args.repeats}, rows)


if __name__ == "__main__":
    main()
