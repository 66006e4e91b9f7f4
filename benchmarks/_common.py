"""Helpers shared by the benchmark scripts: machine facts and JSON output."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

# The machine and versions helpers live in the package (imgen bench uses them too).
from imgen.bench.environment import machine, versions

__all__ = ["eval_curve", "machine", "train_and_read", "versions", "write_json"]


def write_json(path: str | Path, settings: dict[str, Any], results: Any) -> None:
    data = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": machine(),
        "versions": versions(),
        "settings": settings,
        "results": results,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")


def train_and_read(command: list[str], run: Path) -> list[dict[str, Any]]:
    """Run an ``imgen train`` command line, then return the events of its metrics.jsonl."""
    import shlex
    import subprocess
    import sys

    print("$ " + shlex.join(command), flush=True)
    subprocess.run(command, check=True, stdout=sys.stdout)
    lines = (Path(run) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def eval_curve(events: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The evaluation events as rows of minutes, step and ``keys``."""
    return [{k: e[k] for k in ("minutes", "step", *keys)} for e in events if e["event"] == "eval"]
