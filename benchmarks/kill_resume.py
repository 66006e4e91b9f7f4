"""SIGKILL and SIGTERM a deterministic CPU run at random moments; resume; compare bit for bit.

    python benchmarks/kill_resume.py --kills 20 --terms 5

One uninterrupted ``imgen train sr`` run gives the reference weights. Then, ``--kills`` times,
the same run is started and SIGKILLed at a random moment, half of the times at the moment a
checkpoint folder is being written (``checkpoints/*.tmp`` exists); each killed run must be
loadable (its newest checkpoint complete, or none), resumable with ``--resume`` and end with
weights bitwise equal to the reference. ``--terms`` times the run gets SIGTERM instead, which
must save, exit 143 and resume the same way. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import write_json
from safetensors.torch import load_file

from imgen.engine.checkpoint import load_checkpoint, step_folders


def _final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(step_folders(run / "checkpoints")[0] / "weights.safetensors"))


def _interrupt(
    base, run: Path, signum: int, during_save: bool, rng: random.Random, max_delay: float
):
    """Start the run, send ``signum`` (at a save, or after a random delay); return its state."""
    proc = subprocess.Popen(
        [*base, "--name", run.name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    folder = run / "checkpoints"
    deadline = time.monotonic() + 120
    started = None
    while proc.poll() is None and time.monotonic() < deadline:
        if started is None and (run / "metrics.jsonl").exists():
            started = time.monotonic()  # the loop is running: steps and saves follow
            delay = rng.uniform(0.0, max_delay)
        if started is not None:
            saving = folder.is_dir() and any(folder.glob("step_*.tmp"))
            if (during_save and saving) or (not during_save and time.monotonic() - started > delay):
                break
        time.sleep(0.0005)
    was_saving = folder.is_dir() and any(folder.glob("step_*.tmp"))
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, was_saving, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="image folder [default: built-in photos]")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--terms", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, default=5.0, help="seconds after the start")
    parser.add_argument("--json", default="benchmarks/results/kill_resume.json")
    args = parser.parse_args()

    out = Path(tempfile.mkdtemp(prefix="imgen-kill-"))
    base = [sys.executable, "-m", "imgen", "train", "sr", "--out", str(out), "--steps"]
    base += [str(args.steps), "--batch-size", "2", "--crop", "48", "--scale", "2"]
    base += ["--num-feat", "32", "--num-block", "4", "--gan-weight", "0.01"]
    base += ["--perceptual-weight", "0", "--deterministic", "--save-every", "1", "--keep", "2"]
    base += ["--sample-every", "0", "--workers", "0", "--device", "cpu", "--seed", "5"]
    if args.data:
        base += ["--data", args.data]
    subprocess.run([*base, "--name", "straight"], check=True, capture_output=True)
    reference = _final_weights(out / "straight")

    rng = random.Random(args.seed)
    rows = []
    plan = [(signal.SIGKILL, i % 2 == 0) for i in range(args.kills)]
    plan += [(signal.SIGTERM, False)] * args.terms
    for i, (signum, at_save) in enumerate(plan):
        run = out / f"run{i:02d}"
        code, was_saving, err = _interrupt(base, run, signum, at_save, rng, args.max_delay)
        try:
            found = load_checkpoint(run)
            loadable, step = True, (found[1]["step"] if found else 0)
        except Exception as exc:
            loadable, step, err = False, None, f"{err}\n{exc}"
        resumed = subprocess.run(
            [sys.executable, "-m", "imgen", "train", "sr", "--resume", str(run)],
            capture_output=True,
            text=True,
        )
        equal = False
        if resumed.returncode == 0:
            final = _final_weights(run)
            equal = final.keys() == reference.keys() and all(
                torch.equal(final[k], reference[k]) for k in final
            )
        rows.append(
            {
                "signal": signal.Signals(signum).name,
                "exit": code,
                "during_save": was_saving,
                "step_at_stop": step,
                "loadable": loadable,
                "resumable": resumed.returncode == 0,
                "bitwise_equal": equal,
                "error": "" if equal else (resumed.stderr or err)[-400:],
            }
        )
        r = rows[-1]
        print(
            f"{i:2d} {r['signal']:8s} exit {r['exit']:4d} save {was_saving!s:5s} step "
            f"{step!s:>4s} loadable {loadable} resumable {r['resumable']} equal {equal}",
            flush=True,
        )

    summary = {}
    for name in ("SIGKILL", "SIGTERM"):
        part = [r for r in rows if r["signal"] == name]
        summary[name] = {
            "runs": len(part),
            "during_save": sum(r["during_save"] for r in part),
            "loadable": sum(r["loadable"] for r in part),
            "resumable": sum(r["resumable"] for r in part),
            "bitwise_equal": sum(r["bitwise_equal"] for r in part),
            "exit_143": sum(r["exit"] == 128 + signal.SIGTERM for r in part),
        }
    print("\n| signal | runs | during a save | loadable | resumable | bitwise equal |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, s in summary.items():
        print(
            f"| {name} | {s['runs']} | {s['during_save']} | {s['loadable']}/{s['runs']} | "
            f"{s['resumable']}/{s['runs']} | {s['bitwise_equal']}/{s['runs']} |"
        )
    write_json(
        args.json, {"command": " ".join(base[2:]), **vars(args)}, {"summary": summary, "runs": rows}
    )


if __name__ == "__main__":
    main()
