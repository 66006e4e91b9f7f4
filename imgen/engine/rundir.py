"""Run directories: config.json, metrics.jsonl, samples/ and checkpoints/."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from imgen.errors import ImgenError

CONFIG = "config.json"
METRICS = "metrics.jsonl"


def new_run_dir(out: str, task: str, name: str | None) -> Path:
    base = Path(out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = base / (name or f"{task}-{stamp}")
    suffix = 1
    while path.exists() and not name:
        suffix += 1
        path = base / f"{task}-{stamp}-{suffix}"
    if path.exists() and any(path.iterdir()):
        raise ImgenError(
            f"run directory {path} already exists; pick another --name, or "
            f"continue it with --resume {path}"
        )
    (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    (path / "samples").mkdir(exist_ok=True)
    return path


def versions() -> dict[str, str]:
    import torch

    from imgen import __version__

    return {"imgen": __version__, "torch": torch.__version__, "python": platform.python_version()}


def write_config(
    run_dir: Path,
    task: str,
    config: dict[str, Any],
    nets: dict[str, Any],
    *,
    imported: dict[str, Any] | None = None,
    world_size: int = 1,
) -> None:
    """Write ``config.json``: the task, every option, the networks, the versions, and the
    number of processes that trained it (``world_size``). A run made by ``imgen import``
    keeps its ``"imported"`` record (the file and architecture) when the config is written
    again on ``--resume``."""
    path = run_dir / CONFIG
    if imported is None and path.exists():
        imported = json.loads(path.read_text()).get("imported")
    data = {
        "task": task,
        "config": config,
        "nets": nets,
        "versions": versions(),
        "world_size": world_size,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if imported is not None:
        data["imported"] = imported
    path.write_text(json.dumps(data, indent=2) + "\n")


def read_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise ImgenError(f"{run_dir} is not a run directory: {CONFIG} is missing")
    return _parse_config(path)


def _parse_config(path: Path) -> dict[str, Any]:
    """``config.json``'s object; a file that is not one (truncated, binary, a pickle) is an
    ImgenError naming it, never a traceback (json only parses: nothing in it runs)."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImgenError(
            f"{path} is not a readable run config (not valid JSON: {exc}); restore it from a "
            "copy of the run or start a new run"
        ) from None
    except OSError as exc:
        raise ImgenError(f"cannot read {path}: {exc.strerror or exc}") from None
    if (
        not isinstance(data, dict)
        or "task" not in data
        or not isinstance(data.get("config", {}), dict)
    ):
        raise ImgenError(
            f"{path} is not a run config (no JSON object with a task and its config); "
            "restore it from a copy of the run or start a new run"
        )
    return data


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl``."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / METRICS

    def write(self, event: str, **values: Any) -> None:
        record = {"event": event, "time": round(time.time(), 3), **values}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]
