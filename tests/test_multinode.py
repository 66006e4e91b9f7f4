"""Beyond one machine (issue 23 item 3), on the CPU with gloo and tiny runs:

- the README's SLURM recipe, run verbatim under a fake one-node SLURM (``scontrol`` and
  ``srun`` shell scripts on PATH), trains and writes a checkpoint;
- two torchrun "nodes" on localhost (two launches with ``--nnodes 2``, c10d rendezvous)
  train like one process at the same global batch;
- ``torchrun --max-restarts 1`` with a worker SIGKILLed after its first checkpoint resumes
  the run by itself and ends with the weights of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
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


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (torchrun's workers), from /proc."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat_file.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find workers")
def test_torchrun_restart_after_a_killed_worker_resumes_the_run_by_itself(photos, tmp_path):
    long = [*TINY, "--steps", "30", "--save-every", "2"]  # the later --steps wins

    def launch(out: Path, restarts: int) -> subprocess.Popen:
        port = free_port()
        return torchrun(
            "--nnodes", "1", "--nproc-per-node", "2", "--max-restarts", str(restarts),
            "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
            "--rdzv-id", f"restart-{port}", "--monitor-interval", "0.1",
            "-m", "imgen", "train", "sr", "--data", str(photos), *long,
            "--out", str(out), "--name", "run",
        )  # fmt: skip

    job = launch(tmp_path / "killed", restarts=1)
    checkpoints = tmp_path / "killed" / "run" / "checkpoints"
    deadline = time.monotonic() + 90
    while not (checkpoints / "step_00000002").exists():
        assert job.poll() is None, job.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no checkpoint at step 2"
        time.sleep(0.01)
    workers = children(job.pid)
    assert workers, "no worker process found"
    os.kill(workers[-1], signal.SIGKILL)
    code, _, err = finish(job)
    assert code == 0, err[-3000:]
    run = tmp_path / "killed" / "run"
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    starts = [(e["step"], e["resumed"]) for e in events if e["event"] == "start"]
    assert len(starts) == 2 and starts[0] == (0, False), starts
    assert starts[1][1] and starts[1][0] >= 2, starts  # the restart continued a checkpoint

    reference = launch(tmp_path / "whole", restarts=0)
    code, _, err = finish(reference)
    assert code == 0, err[-3000:]
    a, b = weights(run), weights(tmp_path / "whole" / "run")
    difference = max(float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point())
    print(f"restarted vs uninterrupted: largest weight difference {difference:.2e}")
    assert difference < 1e-6


def test_resume_auto_starts_a_named_run_then_continues_it(photos, tmp_path):
    first = one_process(photos, tmp_path, "--resume", "auto")
    assert [p.name for p in (first / "checkpoints").glob("step_*")] == ["step_00000004"]
    again = one_process(photos, tmp_path, "--resume", "auto", "--steps", "6")
    events = [json.loads(line) for line in (again / "metrics.jsonl").read_text().splitlines()]
    starts = [(e["step"], e["resumed"]) for e in events if e["event"] == "start"]
    assert starts == [(0, False), (4, True)]


def test_resume_auto_without_a_name_is_a_usage_error(photos, tmp_path):
    args = ["train", "sr", "--data", str(photos), *TINY, "--out", str(tmp_path), "--resume", "auto"]
    result = subprocess.run(
        [sys.executable, "-m", "imgen", *args], capture_output=True, text=True, timeout=60,
        env=environment(),
    )  # fmt: skip
    assert result.returncode == 2
    assert "--resume auto needs --name" in result.stderr


def test_a_restarted_worker_without_a_name_continues_the_recorded_run(tmp_path, monkeypatch):
    from imgen.cli.train import _auto_resume, _record_elastic_run

    run = tmp_path / "sr-20261206-120000"
    run.mkdir()
    (run / "config.json").write_text("{}")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-7")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")
    _record_elastic_run(str(tmp_path), run)
    assert _auto_resume({"out": str(tmp_path), "name": None, "resume": None}) is None
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert _auto_resume({"out": str(tmp_path), "name": None, "resume": None}) == str(run)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "another-job")
    assert _auto_resume({"out": str(tmp_path), "name": None, "resume": None}) is None
