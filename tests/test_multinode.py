"""Beyond one machine (issue 23 item 3), on the CPU with gloo and tiny runs:

- the README's SLURM recipe, run verbatim under a fake one-node SLURM (``scontrol`` and
  ``srun`` shell scripts on PATH), trains and writes a checkpoint;
- two torchrun "nodes" on localhost (two launches with ``--nnodes 2``, c10d rendezvous)
  train like one process at the same global batch;
- ``torchrun --max-restarts 1`` with a worker SIGKILLed after its first checkpoint resumes
  the run by itself and ends with the weights of an uninterrupted run.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from imgen.testing import tiny_image_folder

pytestmark = [
    pytest.mark.usefixtures("clean_plugin_env"),
    pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed"),
]

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent
TINY = [
    "--steps", "4", "--batch-size", "4", "--crop", "32", "--scale", "2", "--num-feat", "8",
    "--num-block", "1", "--gan-weight", "0", "--workers", "0", "--sample-every", "0",
    "--lr-schedule", "constant", "--ema", "0", "--deterministic", "--seed", "3",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCHELASTIC"))}
    env.update(OMP_NUM_THREADS="1", PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra)
    return env


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / "last.safetensors")


def relative_difference(a: dict, b: dict) -> float:
    keys = [k for k in a if a[k].is_floating_point()]
    apart = torch.cat([(a[k] - b[k]).flatten() for k in keys]).norm()
    return float(apart / torch.cat([a[k].flatten() for k in keys]).norm())


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return tiny_image_folder(tmp_path_factory.mktemp("multinode") / "photos", count=8)


def one_process(photos: Path, out: Path, *extra: str) -> Path:
    args = ["train", "sr", "--data", str(photos), *TINY, "--out", str(out), "--name", "one"]
    result = subprocess.run(
        [sys.executable, "-m", "imgen", *args, *extra],
        capture_output=True, text=True, timeout=120, env=environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "one"


def slurm_recipe() -> str:
    """The bash block after "With SLURM" in the README."""
    text = README.read_text()
    match = re.search(r"With SLURM.*?```bash\n(.*?)```", text, re.S)
    assert match, "README.md has no SLURM recipe"
    return match.group(1)


def test_readme_slurm_recipe_runs_under_a_fake_one_node_slurm(photos, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    scripts = {
        # `scontrol show hostnames LIST`: one host per line
        "scontrol": '#!/bin/sh\n[ "$1 $2" = "show hostnames" ] || exit 1\necho localhost\n',
        # one node, one task: run the command as task 0
        "srun": '#!/bin/sh\nexport SLURM_PROCID=0 SLURM_LOCALID=0 SLURM_NODEID=0\nexec "$@"\n',
    }
    for name, body in scripts.items():
        (fake / name).write_text(body)
        (fake / name).chmod(stat.S_IRWXU)
    work = tmp_path / "job"
    work.mkdir()
    (work / "photos").symlink_to(photos)
    recipe = slurm_recipe().rstrip() + " " + " ".join(TINY[:-2]) + "\n"  # tiny, same lines
    env = environment(
        SLURM_JOB_ID="4242",
        SLURM_JOB_NODELIST="localhost",
        SLURM_NNODES="1",
        SLURM_GPUS_ON_NODE="1",
        MASTER_PORT=str(free_port()),
    )
    env["PATH"] = f"{fake}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        ["bash", "-e", "-c", recipe], cwd=work, capture_output=True, text=True, timeout=120,
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run = work / "runs" / "sr-4242"
    assert (run / "checkpoints" / "last.safetensors").exists()
    assert [p.name for p in (run / "checkpoints").glob("step_*")] == ["step_00000004"]


def torchrun(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "torchrun"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=environment(**env),
    )  # fmt: skip


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err


def test_two_torchrun_nodes_on_localhost_train_like_one_process(photos, tmp_path):
    one = one_process(photos, tmp_path / "one")
    port = free_port()
    launch = [
        "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
        "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", f"two-nodes-{port}",
        "-m", "imgen", "train", "sr", "--data", str(photos), *TINY,
        "--out", str(tmp_path / "two"), "--name", "two",
    ]  # fmt: skip
    nodes = [torchrun(*launch) for _ in range(2)]
    results = [finish(node) for node in nodes]
    for code, _, err in results:
        assert code == 0, err[-3000:]
    run = tmp_path / "two" / "two"
    assert sum(out.strip().splitlines() == [str(run)] for _, out, _ in results) == 1
    difference = relative_difference(weights(one), weights(run))
    print(f"two nodes vs one process: relative weight difference {difference:.2e}")
    assert difference < 1e-3, difference
