"""Data-parallel training (issue 14), on the CPU with gloo: 2 processes launched by
`imgen train --nproc 2` (torchrun's launcher) against 1 process at the same global batch.

Agreement is measured on the weight change: for each network, |W_2 - W_1| / |W_1 - W_0| over
all its parameters, where W_0 are the initial weights (the same on every rank and in both
runs) and W_1, W_2 the final ones of the 1- and 2-process runs. The two runs average the
same per-sample gradients in a different order (a mean over 2 ranks of means over halves),
so they agree to float rounding, not bitwise; the bound is 1 %.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from imgen.config import from_dict
from imgen.engine.trainer import Trainer
from imgen.plugins import create_task
from imgen.testing import tiny_image_folder

pytestmark = [
    pytest.mark.usefixtures("clean_plugin_env"),
    pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed"),
]

COMMON = {
    "steps": 3,
    "sample_every": 0,
    "log_every": 1,
    "lr_schedule": "constant",
    "deterministic": True,
    "workers": 0,
    "ema": 0.0,
    "seed": 5,
}

CASES = {
    "sr-l1": ("sr", {"scale": 2, "crop": 32, "num_feat": 8, "num_block": 1, "gan_weight": 0.0}),
    # ragan (sr's default) takes the mean logit over each rank's share of the batch, as batch
    # norm without --sync-bn does (and as BasicSR under DDP); vanilla is per sample.
    "sr-gan-unet-sn": (
        "sr",
        {
            "scale": 2,
            "crop": 32,
            "num_feat": 8,
            "num_block": 1,
            "gan_weight": 0.1,
            "pretrain_steps": 0,  # the GAN from step 1: two steps of D and G
            "gan_loss": "vanilla",
            "perceptual_weight": 0.0,
            "discriminator": "unet",
            # Adam's first steps are the gradients' signs: where the critic's gradient is at
            # rounding level the sign is noise (1 process on 1 thread against 2 threads differs
            # by 0.6 % of D's change at batch 4, 3 steps); a batch of 8 and 2 steps keep the
            # comparison above that floor.
            "batch_size": 8,
            "steps": 2,
        },
    ),
    "translate-sync-bn": (
        "translate",
        {
            "condition": "edges",
            "crop": 32,
            "depth": 5,
            "ngf": 8,
            "ndf": 8,
            "dropout": False,
            "sync_bn": True,
        },
    ),
    "style": ("style", {"crop": 32, "blocks": 1, "ngf": 8, "ndf": 8, "pool_size": 0}),
    "dcgan-wgan-gp": (
        "dcgan",
        {
            "image_size": 32,
            "z_dim": 8,
            "ngf": 8,
            "ndf": 8,
            "gan_loss": "wgan-gp",
            "n_critic": 2,
            "sync_bn": True,
        },
    ),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ddp")
    domains = root / "domains"
    for seed, split in enumerate(("trainA", "trainB", "testA", "testB")):
        tiny_image_folder(domains / split, count=4, size=(40, 40), seed=seed)
    return {"images": tiny_image_folder(root / "images", count=8), "domains": domains}


def cli_args(options: dict) -> list[str]:
    args = []
    for key, value in options.items():
        name = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(name if value else f"--no-{key.replace('_', '-')}")
        else:
            args += [name, str(value)]
    return args


def run_imgen(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "imgen", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / "last.safetensors")


def one_process(task_name: str, options: dict, out: Path) -> tuple[dict, dict, set[str]]:
    """(initial weights, final weights, parameters without effect) of an in-process run."""
    task = create_task(task_name)
    cfg = from_dict(task.Config, {**options, "out": str(out), "name": "one"})
    trainer = Trainer(task, cfg, quiet=True)
    initial = {
        f"{name}.{k}": v.detach().clone()
        for name, net in trainer.nets.items()
        for k, v in net.state_dict().items()
    }
    dead = without_effect(trainer.nets)
    trainer.fit()
    return initial, final_weights(out / "one"), dead


def without_effect(nets: dict[str, torch.nn.Module]) -> set[str]:
    """Parameters whose gradient is zero whatever the data: a conv bias that the instance norm
    after it subtracts again (the reference ResNet keeps them). Adam turns their rounding
    noise into full-size steps of random sign, which say nothing about the training, so the
    comparison leaves them out (they do not change any output)."""
    import copy

    dead = set()
    for name, original in nets.items():
        net = copy.deepcopy(original)  # a forward in train mode moves SN and BN state
        probe = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        net.zero_grad()
        try:
            out = net(probe)
        except (RuntimeError, ValueError):  # not a network of images (DCGAN's G takes z)
            continue
        (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
        grads = {k: p.grad for k, p in net.named_parameters() if p.grad is not None}
        largest = max(float(g.abs().max()) for g in grads.values())
        dead |= {f"{name}.{k}" for k, g in grads.items() if float(g.abs().max()) <= 1e-4 * largest}
        net.zero_grad()
    return dead


def relative_change_difference(
    w0: dict, w1: dict, w2: dict, skip: set[str] = frozenset()
) -> dict[str, float]:
    """Per network: |W2 - W1| / |W1 - W0| over its floating-point parameters."""
    nets = sorted({k.split(".")[0] for k in w1 if not k.startswith("ema.")})
    out = {}
    for net in nets:
        keys = [k for k in w1 if k.startswith(net + ".") and w1[k].is_floating_point()]
        keys = [k for k in keys if "running" not in k and "_u" not in k and "_v" not in k]
        keys = [k for k in keys if k not in skip]
        moved = torch.cat([(w1[k] - w0[k]).flatten() for k in keys]).norm()
        apart = torch.cat([(w2[k] - w1[k]).flatten() for k in keys]).norm()
        out[net] = float(apart / moved)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_processes_train_like_one_at_the_same_global_batch(case, data, tmp_path):
    task_name, extra = CASES[case]
    folder = data["domains"] if task_name == "style" else data["images"]
    options = {**COMMON, "batch_size": 4, **extra, "data": str(folder)}
    w0, w1, dead = one_process(task_name, options, tmp_path / "one")
    args = ["train", task_name, *cli_args(options), "--out", tmp_path / "two", "--name", "two"]
    result = run_imgen(*map(str, args), "--nproc", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "two" / "two"
    assert result.stdout.strip().splitlines() == [str(run)]  # rank 0 alone prints
    w2 = final_weights(run)
    assert set(w2) == set(w1)
    differences = relative_change_difference(w0, w1, w2, skip=dead)
    assert differences and max(differences.values()) < 0.01, differences
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2


def test_only_rank_zero_writes_and_the_run_reads_like_one_process(data, tmp_path):
    options = {**COMMON, **CASES["sr-l1"][1], "data": str(data["images"]), "batch_size": 4}
    options |= {"sample_every": 1, "save_every": 1, "keep": 5}
    args = ["train", "sr", *cli_args(options), "--out", tmp_path, "--name", "two", "--nproc", "2"]
    result = run_imgen(*map(str, args))
    assert result.returncode == 0, result.stderr[-3000:]
    one_process("sr", options, tmp_path / "ref")
    two, one = tmp_path / "two", tmp_path / "ref" / "one"

    def files(run: Path) -> list[str]:
        return sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())

    assert files(two) == files(one)  # each file once: no rank but 0 wrote anything
    events = [json.loads(x) for x in (two / "metrics.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("start") == 1
    assert sum(e["event"] == "train" for e in events) == COMMON["steps"]
    assert result.stderr.count("|██████████| 3/3") <= 2  # one progress bar (its last redraws)


def test_resume_on_another_number_of_ranks_is_the_same_run(data, tmp_path):
    options = {**COMMON, **CASES["sr-l1"][1], "data": str(data["images"]), "batch_size": 4}
    options["steps"] = 4
    _, straight, _ = one_process("sr", options, tmp_path / "one")
    half = {**options, "steps": 2}
    args = ["train", "sr", *cli_args(half), "--out", tmp_path, "--name", "mix", "--nproc", "2"]
    assert run_imgen(*map(str, args)).returncode == 0
    resumed = run_imgen("train", "sr", "--resume", str(tmp_path / "mix"), "--steps", "4")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    mixed = final_weights(tmp_path / "mix")
    w0 = {k: torch.zeros_like(v) for k, v in straight.items()}
    # Against the weights themselves (the change from 0): agreement to rounding.
    assert max(relative_change_difference(w0, straight, mixed).values()) < 1e-4


FAIL_RANK_1 = """
import os

if os.environ.get("RANK") == "1":  # torchrun's worker of rank 1 fails at its second step
    import imgen.engine.trainer as trainer

    original = trainer.Trainer.train_step

    def train_step(self, it):
        if self.step == 1:
            raise RuntimeError("test failure injected at step 2")
        return original(self, it)

    trainer.Trainer.train_step = train_step
"""


LITTLE_MEMORY_ON_RANK_1 = """
import os

if os.environ.get("RANK") == "1":  # torchrun's worker of rank 1 sees 1 MB of free memory
    import imgen.engine.device as device

    device.available_memory = lambda device=None: 2**20
"""


def test_a_batch_one_rank_cannot_hold_stops_every_rank_before_a_run(data, tmp_path, monkeypatch):
    """The memory check is collective: rank 0, which has the memory, does not go on to make
    the run directory while rank 1 stops (which would leave rank 0 waiting for it)."""
    options = {**COMMON, **CASES["sr-l1"][1], "data": str(data["images"]), "batch_size": 64}
    args = ["train", "sr", *cli_args(options), "--out", tmp_path / "runs", "--name", "small"]
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(LITTLE_MEMORY_ON_RANK_1)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")])
    )
    result = run_imgen(*map(str, args), "--nproc", "2", timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "--batch-size 64 (micro-batches of 32) needs at least" in result.stderr
    assert "--batch-size / --grad-accum / 2 ranks is at most" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_rank_that_fails_ends_the_job_with_its_error(data, tmp_path, monkeypatch):
    """Rank 1 raises at step 2 (a sitecustomize module patches it in that process only); the
    job must stop well within the timeout, non-zero, naming the rank and the error, instead
    of rank 0 waiting forever in an all-reduce."""
    options = {**COMMON, **CASES["sr-l1"][1], "data": str(data["images"]), "batch_size": 4}
    options |= {"steps": 50, "dist_timeout": 0.5}
    args = ["train", "sr", *cli_args(options), "--out", tmp_path, "--name", "crash"]
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(FAIL_RANK_1)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")])
    )
    t0 = time.monotonic()
    result = run_imgen(*map(str, args), "--nproc", "2", timeout=120)
    assert result.returncode != 0
    assert time.monotonic() - t0 < 90
    assert "rank 1" in result.stderr and "test failure injected at step 2" in result.stderr


def test_bench_times_a_ddp_step(tmp_path):
    report_path = tmp_path / "bench.json"
    result = run_imgen(
        "bench", "sr:srresnet", "--nproc", "2", "--device", "cpu", "--quick", "--modes",
        "baseline", "--steps", "1", "--warmup", "1", "--batch-size", "4", "--crop", "32",
        "--set", "num_block=1", "--set", "num_feat=8", "--json", str(report_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["settings"]["nproc"] == 2 and report["settings"]["sections"] == ["train"]
    (row,) = [r for r in report["training"] if r["mode"] == "baseline"]
    assert row["status"] == "ok" and row["batch"] == 4 and row["samples_per_s"] > 0
    assert result.stdout.count("### Training throughput") == 1  # rank 0 alone reports


def test_without_option_drops_the_launcher_option():
    from imgen.cli.common import without_option

    args = ["--steps", "3", "--nproc", "2", "--nproc=4", "--data", "x"]
    assert without_option(args, "--nproc") == ["--steps", "3", "--data", "x"]
