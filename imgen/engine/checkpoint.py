"""Checkpoints: one folder per saved step, written whole and then renamed; nothing pickled.

``checkpoints/step_00001000/`` holds ``weights.safetensors`` (every network as ``NET.param``,
the EMA copies as ``ema.NET.param``) and ``state.safetensors`` (the step, optimizers,
schedulers, gradient scalers, RNG states and the task's state: its tensors as safetensors, the
rest as JSON in the file's metadata). A save writes ``step_N.tmp/`` and renames it, so a crash
leaves either the whole new checkpoint or none of it; ``last.safetensors`` is then pointed at
the newest weights (a hard link) for tools that read one file. Loading a run never unpickles:
a file from an older imgen (``last.state.pt``) is read with ``torch.load(weights_only=True)``,
which refuses code.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from imgen.errors import ImgenError

WEIGHTS = "last.safetensors"  # newest weights, a link into the newest step folder
STEP_WEIGHTS = "weights.safetensors"
STEP_STATE = "state.safetensors"
LEGACY_STATE = "last.state.pt"  # imgen 0.1.0
EMA_PREFIX = "ema."
_PREFIX = "step_"


class CheckpointError(ImgenError):
    """A checkpoint that cannot be read or written."""


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: a crash never leaves half a file.

    The file gets the permissions ``open`` would give it (or keeps those of the file it
    replaces), not the owner-only ones of a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else _new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_file_mode() -> int:
    """0o666 less the umask, as ``open`` creates files (reading the umask means setting it)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


# -- weights -------------------------------------------------------------------------------------
def flatten_weights(nets: dict[str, torch.nn.Module], prefix: str = "") -> dict[str, torch.Tensor]:
    flat = {}
    for name, net in nets.items():
        for key, value in net.state_dict().items():
            flat[f"{prefix}{name}.{key}"] = value.detach().contiguous().cpu()
    return flat


def split_weights(flat: dict[str, torch.Tensor]) -> tuple[dict[str, dict], dict[str, dict]]:
    """``{"G.x": t, "ema.G.x": u}`` -> ``({"G": {"x": t}}, {"G": {"x": u}})``."""
    nets: dict[str, dict] = {}
    ema: dict[str, dict] = {}
    for key, value in flat.items():
        target = nets
        if key.startswith(EMA_PREFIX):
            target, key = ema, key[len(EMA_PREFIX) :]
        net, _, param = key.partition(".")
        target.setdefault(net, {})[param] = value
    return nets, ema


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from None


# -- state without pickle ------------------------------------------------------------------------
def _encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able form of ``value``; its tensors go to ``tensors`` under a fresh key."""
    if isinstance(value, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        items = [[_encode(k, tensors), _encode(v, tensors)] for k, v in value.items()]
        return {"__dict__": items}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and not np.isfinite(value):
            return {"__float__": repr(value)}
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint's state")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__ndarray__" in value:
        return np.asarray(value["__ndarray__"], dtype=value["dtype"])
    if "__tuple__" in value:
        return tuple(_decode(v, tensors) for v in value["__tuple__"])
    if "__float__" in value:
        return float(value["__float__"])
    return {_decode(k, tensors): _decode(v, tensors) for k, v in value["__dict__"]}


def write_state(path: str | Path, state: dict[str, Any]) -> None:
    """Store nested dicts/lists/tuples of tensors, arrays and scalars in one safetensors file."""
    tensors: dict[str, torch.Tensor] = {}
    encoded = json.dumps(_encode(state, tensors))
    save_file(tensors, str(path), metadata={"imgen_state": encoded})


def read_state(path: str | Path) -> dict[str, Any]:
    tensors, metadata = _read_safetensors(Path(path))
    if "imgen_state" not in metadata:
        raise CheckpointError(f"{path} holds no imgen training state")
    return _decode(json.loads(metadata["imgen_state"]), tensors)


def _load_legacy_state(path: Path) -> dict[str, Any]:
    """``last.state.pt`` of imgen 0.1.0, read without running code (numpy arrays allowed)."""
    safe = [np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    reconstruct = getattr(np, "_core", np.core).multiarray._reconstruct
    try:
        with torch.serialization.safe_globals([*safe, reconstruct]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError and what a tampered file raises
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"refusing to load {path}: it holds objects other than tensors and numbers "
            f"(a pickle that could run code; {first[:160]})"
        ) from None


# -- checkpoints ---------------------------------------------------------------------------------
def step_folders(folder: Path) -> list[Path]:
    """Complete checkpoint folders of a run, newest first."""
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.iterdir()
        if p.is_dir() and p.name.startswith(_PREFIX) and p.name[len(_PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[len(_PREFIX) :]), reverse=True)


def remove_stale(folder: Path) -> list[Path]:
    """Delete what an interrupted save left behind (``*.tmp`` files and folders)."""
    stale = list(folder.glob("*.tmp")) if folder.is_dir() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return stale


# errno -> why a write failed, in words: each stops the run with one sentence (exit 1).
_WRITE_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EFBIG: "a file-size limit was reached",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission was denied",
    errno.EPERM: "permission was denied",
}


def _write_failure(exc: BaseException) -> str | None:
    """Why a checkpoint write failed, when it is the file system's doing; else None."""
    if isinstance(exc, OSError) and exc.errno in _WRITE_ERRORS:
        return _WRITE_ERRORS[exc.errno]
    # safetensors reports a short write as a plain error message
    if "No space left" in str(exc) or "unexpected pos" in str(exc):
        return "the disk is full"
    if "File too large" in str(exc):
        return "a file-size limit was reached"
    return None


def save_checkpoint(
    folder: Path,
    nets: dict[str, torch.nn.Module],
    ema_nets: dict[str, torch.nn.Module] | None,
    state: dict[str, Any],
    *,
    keep: int = 1,
    protect: tuple[int, ...] = (),
) -> Path:
    """Write ``folder/step_N`` (N = ``state["step"]``) whole, then prune to ``keep`` folders.

    ``protect`` names steps never pruned (the best checkpoint). Returns the new folder.
    """
    step = int(state["step"])
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{_PREFIX}{step:08d}"
    tmp = folder / f"{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    flat = flatten_weights(nets)
    if ema_nets:
        flat.update(flatten_weights(ema_nets, EMA_PREFIX))
    try:
        tmp.mkdir()  # inside: a read-only folder fails here
        save_file(flat, str(tmp / STEP_WEIGHTS), metadata={"step": str(step)})
        write_state(tmp / STEP_STATE, state)
        mode = _new_file_mode()  # safetensors writes owner-only files; outputs follow the umask
        for name in (STEP_WEIGHTS, STEP_STATE):
            os.chmod(tmp / name, mode)
        _fsync_folder(tmp)
        if final.exists():  # the same step saved again (e.g. at the end of a run)
            old = folder / f"{final.name}.old.tmp"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
        _point_last(folder, final / STEP_WEIGHTS)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        why = _write_failure(exc)
        if why:
            previous = next((p.name for p in step_folders(folder)), "none")
            raise CheckpointError(
                f"{why}: could not write the step {step} checkpoint in {folder} "
                f"(the previous checkpoint, {previous}, is intact); fix that and --resume"
            ) from None
        raise
    for old in step_folders(folder)[max(keep, 1) :]:
        if int(old.name[len(_PREFIX) :]) not in protect:
            shutil.rmtree(old, ignore_errors=True)
    return final


def write_initial_weights(folder: Path, nets: dict[str, torch.nn.Module]) -> Path:
    """``folder/last.safetensors`` alone: the weights a run starts from at step 0 (``imgen
    import``). ``--resume`` of such a run loads them into the networks it builds; the run's
    first save then writes a whole checkpoint."""
    path = folder / WEIGHTS
    flat = flatten_weights(nets)
    atomic_write(path, lambda tmp: save_file(flat, tmp, metadata={"step": "0", "initial": "1"}))
    return path


def initial_weights(run_dir: str | Path) -> dict[str, dict[str, torch.Tensor]] | None:
    """The weights of :func:`write_initial_weights`, per network; None when the run has
    step checkpoints or no such file."""
    folder = Path(run_dir) / "checkpoints"
    if step_folders(folder) or not (folder / WEIGHTS).exists():
        return None
    flat, meta = _read_safetensors(folder / WEIGHTS)
    if meta.get("initial") != "1":
        return None
    return split_weights(flat)[0]


def _fsync_folder(path: Path) -> None:
    for f in path.iterdir():
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())


def _point_last(folder: Path, weights: Path) -> None:
    """``last.safetensors`` -> the newest weights: a hard link, a copy where links fail."""
    link = folder / f"{WEIGHTS}.tmp"
    link.unlink(missing_ok=True)
    try:
        os.link(weights, link)
    except OSError:
        shutil.copyfile(weights, link)
    os.replace(link, folder / WEIGHTS)


def _consistent(path: Path) -> tuple[dict, dict[str, Any]] | str:
    """(weights, state) of one step folder, or why it cannot be used."""
    try:
        weights, meta = _read_safetensors(path / STEP_WEIGHTS)
        state = read_state(path / STEP_STATE)
    except (CheckpointError, FileNotFoundError) as exc:
        return str(exc)
    except (ValueError, KeyError, TypeError) as exc:  # a state whose JSON was damaged
        return f"its training state is malformed ({exc})"
    if str(state.get("step")) != meta.get("step"):
        return f"its weights are of step {meta.get('step')}, its state of step {state.get('step')}"
    return weights, state


def set_aside(path: Path) -> Path:
    """Rename an unreadable step folder to ``step_N.unreadable`` (``.unreadable.2``, ... when
    taken): pruning and a later save of the same step never touch it, and nothing is lost."""
    target = path.with_name(f"{path.name}.unreadable")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.unreadable.{n}")
    path.rename(target)
    return target


def load_checkpoint(
    run_dir: str | Path, warn: Any = None, *, restart: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The newest consistent (flat weights, state) of a run; None when it has no checkpoint.

    A step folder that cannot be read is set aside (renamed ``step_N.unreadable``, never
    deleted) with ``warn``, for the one before it. When step folders exist and none can be
    read, this raises :class:`CheckpointError` unless ``restart`` (then None: step 0).
    """
    folder = Path(run_dir) / "checkpoints"
    unreadable: list[str] = []
    for path in step_folders(folder):
        found = _consistent(path)
        if isinstance(found, tuple):
            return found
        aside = set_aside(path)
        unreadable.append(path.name)
        if warn:
            warn(f"skipping unreadable checkpoint {path} ({found}); kept as {aside.name}")
    if unreadable:
        if not restart:
            raise CheckpointError(
                f"no checkpoint of {run_dir} can be read ({', '.join(unreadable)}, kept as "
                f"*.unreadable); pass --restart to start the run over from step 0"
            )
        if warn:
            warn(f"--restart: starting {run_dir} over from step 0")
        return None
    legacy = folder / LEGACY_STATE
    if legacy.exists() and (folder / WEIGHTS).exists():
        weights, meta = _read_safetensors(folder / WEIGHTS)
        state = _load_legacy_state(legacy)
        if "step" in meta and str(state.get("step")) != meta["step"]:
            raise CheckpointError(
                f"{folder}: last.safetensors is of step {meta['step']} but last.state.pt of "
                f"step {state.get('step')} (a save was interrupted); the run cannot resume exactly"
            )
        return weights, state
    return None


def load_weights(run_dir: str | Path, *, ema: bool = True) -> dict[str, dict[str, torch.Tensor]]:
    """State dicts per network from a run; the EMA copy replaces a network when ``ema``."""
    folder = Path(run_dir) / "checkpoints"
    newest = step_folders(folder)
    path = newest[0] / STEP_WEIGHTS if newest else folder / WEIGHTS
    if not path.exists():
        raise ImgenError(f"{path} does not exist; is {run_dir} a run directory with a checkpoint?")
    nets, ema_nets = split_weights(_read_safetensors(path)[0])
    if ema:
        nets.update(ema_nets)
    return nets


# -- RNG -----------------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    python = state["python"]  # JSON turns the inner tuple into a list
    random.setstate((python[0], tuple(python[1]), python[2]))
    np.random.set_state(tuple(state["numpy"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
