"""The bad-input matrix of issue 24: bad values and files given to the CLI, as a user would.

    python benchmarks/bad_inputs.py [--only SUBSTRING]

Each case runs `python -m imgen ...` as a subprocess in a fresh temporary folder (with a tiny
data folder and a one-step SR run made once and copied per case) and is scored on:

- traceback: stderr holds a Python traceback instead of a sentence;
- exit: the exit status is not the documented one (2 bad value, 1 bad file), or 0;
- code execution: a pickle planted in a file wrote its marker file when loaded;
- data lost: a checkpoint folder that existed before the command is gone after it;
- writes outside: a file appeared outside the folders the command was told to write to.

Prints a table and writes benchmarks/results/bad_inputs.json.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from _common import write_json

MARKER = "CODE_RAN"


class _Payload:
    """Writes the marker file when unpickled (a pickle that runs code)."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def pickle_bytes() -> bytes:
    return pickle.dumps({"config": _Payload()})


@dataclass
class Case:
    name: str
    args: list[str]
    expect: int  # the documented exit status
    setup: str = ""  # what to prepare (see prepare())
    allowed: list[str] = field(default_factory=lambda: ["out", "runs"])


TRAIN = [
    "--steps",
    "1",
    "--batch-size",
    "1",
    "--crop",
    "16",
    "--workers",
    "0",
    "--sample-every",
    "0",
]
SR = [
    "train",
    "sr",
    "--data",
    "data",
    "--out",
    "runs",
    "--scale",
    "2",
    "--gan-weight",
    "0",
    "--num-feat",
    "4",
    "--num-block",
    "1",
    *TRAIN,
]
STYLE = [
    "train",
    "style",
    "--data",
    "data",
    "--out",
    "runs",
    "--ngf",
    "4",
    "--ndf",
    "4",
    "--blocks",
    "1",
    *TRAIN,
]
DCGAN = [
    "train",
    "dcgan",
    "--data",
    "data",
    "--out",
    "runs",
    "--image-size",
    "32",
    *TRAIN[:2],
    "--workers",
    "0",
    "--sample-every",
    "0",
]
PREDICT = ["predict", "--run", "run", "data/image_000.png", "-o", "out"]


def cases() -> list[Case]:
    c = [
        # 1. resume must not discard a run (another helper's item)
        Case(
            "1 resume: truncated state",
            ["train", "sr", "--resume", "run", "--steps", "3", "--keep", "1"],
            1,
            "truncate_state",
        ),
        Case(
            "1 resume: deleted state",
            ["train", "sr", "--resume", "run", "--steps", "3", "--keep", "1"],
            1,
            "delete_state",
        ),
        # 2. paths stay inside (another helper's item)
        Case("2 --name ../escape", [*SR, "--name", "../escape"], 2),
        Case("2 --name absolute", [*SR, "--name", "ABS/escape"], 2),
        Case("2 predict --suffix /../../x", [*PREDICT, "--suffix", "/../../x"], 2),
        # 3. write failures (another helper's item)
        Case("3 --out is a file", [*SR[:4], "--out", "afile", *SR[6:]], 2, "out_file", allowed=[]),
        # 4. tracebacks from values and files
        Case("4 predict: pickled config.json", PREDICT, 1, "pickle_config"),
        Case("4 predict: truncated config.json", PREDICT, 1, "truncate_config"),
        Case(
            "4 eval: pickled config.json",
            ["eval", "sr", "--run", "run", "--data", "data"],
            1,
            "pickle_config",
        ),
        Case(
            "4 resume: truncated config.json",
            ["train", "sr", "--resume", "run", "--steps", "3"],
            1,
            "truncate_config",
        ),
        Case("4 init: pickled config.json", [*SR, "--init", "run"], 1, "pickle_config"),
        Case("4 report: truncated config.json", ["report", "run"], 1, "truncate_config"),
        Case("4 --config pickled", [*SR, "--config", "run/config.json"], 2, "pickle_config"),
        Case(
            "4 predict --weights junk.onnx",
            ["predict", "--weights", "junk.onnx", "data/image_000.png", "-o", "out"],
            1,
            "junk_onnx",
        ),
        Case("4 --outscale nan", [*PREDICT, "--outscale", "nan"], 2),
        Case("4 --outscale inf", [*PREDICT, "--outscale", "inf"], 2),
        Case("4 --outscale 1e6", [*PREDICT, "--outscale", "1e6"], 2),
        Case(
            "4 export --size 99999",
            ["export", "--run", "run", "-o", "out/m.onnx", "--size", "99999"],
            2,
        ),
        Case("4 sr --num-feat 10**6", [*SR, "--num-feat", "1000000"], 2),
        Case("4 style --ngf 10**6", [*STYLE, "--ngf", "1000000"], 2),
        Case("4 style --blocks -1", [*STYLE, "--blocks", "-1"], 2),
        Case("4 style --pool-size -1", [*STYLE, "--pool-size", "-1"], 2),
        Case(
            "4 --generator-options num_feat -5", [*SR, "--generator-options", '{"num_feat": -5}'], 2
        ),
        Case(
            "4 --vgg-weights pickle",
            [
                *SR,
                "--gan-weight",
                "1",
                "--crop",
                "32",
                "--perceptual-weight",
                "1",
                "--vgg-weights",
                "vgg.pth",
            ],
            1,
            "pickle_vgg",
        ),
        # 5. values that ruin a run
        Case(
            "5 resume --lr --batch-size changed",
            ["train", "sr", "--resume", "run", "--steps", "3", "--lr", "1e-2", "--batch-size", "4"],
            2,
        ),
        Case("5 style --identity-weight nan", [*STYLE, "--identity-weight", "nan"], 2),
        Case("5 style --identity-weight -1", [*STYLE, "--identity-weight", "-1"], 2),
        Case("5 style --cycle-weight -1", [*STYLE, "--cycle-weight", "-1"], 2),
        Case("5 dcgan --classes ,,,", [*DCGAN, "--conditional", "--classes", ",,,"], 2),
        Case(
            # The default generator (not SR's tiny one) on the data's whole 32x32 images.
            "5 sr --batch-size 100000",
            [
                *["train", "sr", "--data", "data", "--out", "runs", "--scale", "2"],
                "--steps",
                "1",
                "--batch-size",
                "100000",
                "--crop",
                "32",
                "--workers",
                "0",
                "--sample-every",
                "0",
            ],
            2,
        ),
        Case("5 unknown --generator", [*SR, "--generator", "nosuch"], 2),
        Case("5 unknown --pixel-loss", [*SR, "--pixel-loss", "nosuch"], 2),
        Case("5 missing --data", [*SR[:2], "--data", "nosuch", *SR[4:]], 2),
    ]
    return c


def prepare(work: Path, base: Path, case: Case) -> None:
    shutil.copytree(base / "data", work / "data")
    shutil.copytree(base / "run", work / "run")
    run = work / "run"
    step = sorted((run / "checkpoints").iterdir())[-1]
    state = next(step.glob("state*"), None)
    if case.setup == "truncate_state" and state:
        state.write_bytes(state.read_bytes()[:100])
    elif case.setup == "delete_state" and state:
        state.unlink()
    elif case.setup == "pickle_config":
        (run / "config.json").write_bytes(pickle_bytes())
    elif case.setup == "truncate_config":
        text = (run / "config.json").read_bytes()
        (run / "config.json").write_bytes(text[: len(text) // 2])
    elif case.setup == "junk_onnx":
        (work / "junk.onnx").write_bytes(b"this is not an onnx model" * 10)
    elif case.setup == "pickle_vgg":
        (work / "vgg.pth").write_bytes(pickle_bytes())
    elif case.setup == "out_file":
        (work / "afile").write_text("keep me\n")


# imgen sets an unreadable checkpoint aside by renaming it: kept, and its files are no new writes.
SET_ASIDE = ".unreadable"


def snapshot(root: Path) -> set[str]:
    """The files under ``root``, a set-aside checkpoint's under its original name."""
    return {
        p.relative_to(root).as_posix().replace(SET_ASIDE + "/", "/")
        for p in root.rglob("*")
        if not p.is_dir()
    }


def score(case: Case, base: Path, env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        work = root / "work"
        work.mkdir()
        prepare(work, base, case)
        args = [a.replace("ABS", str(root)) for a in case.args]
        checkpoints = {p.name for p in (work / "run" / "checkpoints").iterdir()}
        before = snapshot(root)
        done = subprocess.run(
            [sys.executable, "-m", "imgen", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        after = snapshot(root)
        written = sorted(after - before)
        allowed = ("work/" + a + "/" for a in case.allowed)
        outside = [p for p in written if not p.startswith(tuple(allowed)) and p != f"work/{MARKER}"]
        kept = {p.name.removesuffix(SET_ASIDE) for p in (work / "run" / "checkpoints").iterdir()}
        last = done.stderr.strip().splitlines()[-1:] or [""]
        return {
            "case": case.name,
            "exit": done.returncode,
            "expected_exit": case.expect,
            "traceback": "Traceback (most recent call last)" in done.stderr,
            "code_execution": (work / MARKER).exists(),
            "data_lost": sorted(checkpoints - kept),
            "writes_outside": outside,
            "message": last[0][:160],
        }


def make_base(base: Path, env: dict[str, str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from imgen.testing import tiny_image_folder

    tiny_image_folder(base / "data", count=2, size=(32, 32))
    command = [
        sys.executable,
        "-m",
        "imgen",
        *SR,
        "--out",
        ".",
        "--name",
        "run",
        "--save-every",
        "1",
    ]
    subprocess.run(command, cwd=base, env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="Run the cases whose name contains this.")
    parser.add_argument("--json", default="benchmarks/results/bad_inputs.json")
    args = parser.parse_args()
    env = dict(os.environ, IMGEN_PROGRESS="0")
    chosen = [c for c in cases() if args.only is None or args.only in c.name]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        make_base(base, env)
        for case in chosen:
            row = score(case, base, env)
            rows.append(row)
            bad = row["traceback"] or row["exit"] != row["expected_exit"]
            print(
                f"{'FAIL' if bad else 'ok  '} {row['exit']:>3} {row['case']:<40} {row['message']}",
                flush=True,
            )
    totals = {
        "cases": len(rows),
        "tracebacks": sum(r["traceback"] for r in rows),
        "wrong_exit": sum(r["exit"] != r["expected_exit"] for r in rows),
        "code_executions": sum(r["code_execution"] for r in rows),
        "data_lost": sum(bool(r["data_lost"]) for r in rows),
        "writes_outside": sum(bool(r["writes_outside"]) for r in rows),
    }
    print("\n| " + " | ".join(totals) + " |")
    print("|" + "---|" * len(totals))
    print("| " + " | ".join(str(v) for v in totals.values()) + " |")
    if args.only is None:
        write_json(args.json, {"totals": totals}, rows)


if __name__ == "__main__":
    main()
