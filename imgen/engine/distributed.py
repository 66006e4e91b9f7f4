"""Data-parallel training on torch.distributed, as ``torchrun`` launches it.

``torchrun --nproc-per-node N -m imgen train TASK ...`` (or ``imgen train TASK --nproc N``,
which calls the same launcher) starts N processes with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` in their environment. :func:`setup` reads them and joins the process group
(nccl on CUDA, one device per local rank; gloo on the CPU) with a timeout, so a rank that
dies does not leave the others waiting forever. Without those variables (a plain ``imgen
train``) everything here is a no-op on one process.

What stays the same whatever the world size, and how:

- ``--batch-size`` is the global batch: each rank takes ``batch / world`` samples of every
  global batch of the seeded stream (:class:`imgen.data.SampleStream` with ``rank`` and
  ``world_size``), and DistributedDataParallel averages the gradients, so a step computes the
  mean over the same samples as one process does;
- every trained network is wrapped on its own, and an update runs the other group's networks
  unwrapped: the discriminator update never all-reduces the generator's gradients, and the
  generator update never the discriminator's;
- rank 0 alone writes the run directory; losses are averaged over ranks before logging; a
  stop (signal, time limit) on any rank stops every rank at the same step, and the save that
  follows is collective.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from imgen.errors import ImgenError, UsageError

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass
class Distributed:
    """This process's place in the job (``world_size == 1``: no process group)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """For each flag, whether it is true on at least one rank (one small all-reduce)."""
        if not self.enabled:
            return tuple(bool(f) for f in flags)
        value = torch.tensor(
            [int(bool(f)) for f in flags], dtype=torch.int32, device=self._device()
        )
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return tuple(bool(v) for v in value.tolist())

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """``values`` averaged over the ranks (the same keys on every rank)."""
        if not self.enabled or not values:
            return values
        keys = sorted(values)
        flat = torch.tensor([float(values[k]) for k in keys], device=self._device())
        dist.all_reduce(flat)
        return {k: float(v) / self.world_size for k, v in zip(keys, flat.tolist(), strict=True)}

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def wrap(self, net: nn.Module, device: torch.device) -> nn.Module:
        """``net`` in DistributedDataParallel (itself on one process). Buffers (batch-norm
        statistics, spectral norm's power-iteration vectors) are broadcast from rank 0 at
        every forward, so every rank computes with the same ones."""
        if not self.enabled or not any(p.requires_grad for p in net.parameters()):
            return net
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(net, device_ids=ids)  # buffers broadcast: the default

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()

    def _device(self) -> torch.device:
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def from_environment() -> Distributed:
    """The job this process belongs to, from torchrun's variables (one process without)."""
    if not all(name in os.environ for name in ENV):
        return Distributed()
    try:
        rank, world, local = (int(os.environ[name]) for name in ENV)
    except ValueError:
        raise UsageError(
            f"RANK, WORLD_SIZE and LOCAL_RANK must be integers, got "
            f"{', '.join(os.environ[n] for n in ENV)}"
        ) from None
    return Distributed(rank, world, local)


def setup(device: torch.device, timeout_minutes: float) -> tuple[Distributed, torch.device]:
    """Join the process group when launched by torchrun; returns the job and this rank's
    device (CUDA: the local rank's GPU)."""
    job = from_environment()
    if not job.enabled:
        return job, device
    if device.type == "cuda":
        if job.local_rank >= torch.cuda.device_count():
            raise UsageError(
                f"local rank {job.local_rank} has no GPU: {torch.cuda.device_count()} visible; "
                "start at most that many processes per node"
            )
        device = torch.device("cuda", job.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise UsageError(f"distributed training runs on CUDA or the CPU, not on {device.type}")
    if not dist.is_initialized():
        timeout = datetime.timedelta(minutes=timeout_minutes)
        store = _attempt_store(job, timeout)
        if store is None:
            dist.init_process_group(backend, timeout=timeout)
        else:
            dist.init_process_group(
                backend, store=store, rank=job.rank, world_size=job.world_size, timeout=timeout
            )
    return job, device


def _attempt_store(job: Distributed, timeout: datetime.timedelta) -> Any:
    """Under torchrun, the rendezvous store seen through a prefix of this attempt
    (TORCHELASTIC_RESTART_COUNT), or None elsewhere. With the c10d rendezvous the agent's
    store outlives a restart, and the process group's keys (each rank's address) of the
    failed attempt would send the restarted workers to ports nobody listens on."""
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
    host, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    if attempt in (None, "0") or not host or not port:
        return None  # a first attempt finds no stale keys: torch's own set-up
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    base = dist.TCPStore(
        host,
        int(port),
        job.world_size,
        is_master=not agent and job.rank == 0,
        timeout=timeout,
        multi_tenant=not agent,
    )
    return dist.PrefixStore(f"imgen/attempt_{attempt}", base)


# -- batch norm across ranks ---------------------------------------------------------------------
class SyncBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose statistics are those of the global batch, on any device.

    torch's ``nn.SyncBatchNorm`` runs on GPUs only; this one computes the per-channel sum, sum
    of squares and count, all-reduces them with ``torch.distributed.nn.functional.all_reduce``
    (differentiable: the backward all-reduces the gradients too), and normalises with the
    global mean and variance. Its state dict is BatchNorm2d's. In eval mode, or without a
    process group, it is plain batch norm.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = (0, 2, 3)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        local = torch.cat([x.sum(dims), (x * x).sum(dims), count])
        total = all_reduce(local)
        channels = x.shape[1]
        n = total[-1]
        mean = total[:channels] / n
        var = (total[channels : 2 * channels] / n - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                momentum = self.momentum if self.momentum is not None else 0.1
                unbiased = var * n / (n - 1).clamp_min(1)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(unbiased.detach(), momentum)
                self.num_batches_tracked.add_(1)
        shape = (1, channels, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_sync_batchnorm(net: nn.Module, device: torch.device) -> nn.Module:
    """``net`` with every BatchNorm2d synchronised across ranks (``--sync-bn``): torch's
    ``nn.SyncBatchNorm`` on CUDA, :class:`SyncBatchNorm2d` elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(net)
    return _replace_batchnorm(net)


def _replace_batchnorm(module: nn.Module) -> nn.Module:
    if type(module) is nn.BatchNorm2d:
        sync = SyncBatchNorm2d(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
        )
        sync.load_state_dict(module.state_dict())
        sync.train(module.training)
        return sync
    for name, child in module.named_children():
        setattr(module, name, _replace_batchnorm(child))
    return module


# -- the launcher ---------------------------------------------------------------------------------
def launch(nproc: int, argv: list[str]) -> int:
    """Run ``python -m imgen ARGV`` in ``nproc`` processes on this node through torchrun's own
    launcher (``torch.distributed.run``: the same elastic agent, environment variables and
    error reporting as ``torchrun --standalone --nproc-per-node N``). Returns 0, or raises
    one sentence naming the first rank that failed and its error."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(
        ["--standalone", "--nproc-per-node", str(nproc), "--module", "imgen", *argv]
    )
    try:
        run(args)
    except ChildFailedError as exc:
        _, failure = exc.get_first_failure()
        # A rank's usage error (exit 2: a batch too large for its memory) stays one for the job.
        error = UsageError if failure.exitcode == 2 else ImgenError
        raise error(_failure_sentence(exc)) from None
    return 0


def _failure_sentence(exc: Any) -> str:
    rank, failure = exc.get_first_failure()
    message = ""
    data = failure.error_file_data if isinstance(failure.error_file_data, dict) else {}
    text = data.get("message", {}) if isinstance(data.get("message"), dict) else {}
    if isinstance(text, dict):
        message = str(text.get("message", "")).strip().splitlines()[-1:] or ""
        message = message[0] if message else ""
    reason = message or f"exit code {failure.exitcode}"
    return f"rank {rank} of the distributed run failed: {reason} (the other ranks were stopped)"


def record_failure(exc: BaseException) -> None:
    """Under torchrun, leave ``exc``'s message where the elastic agent reads it, so that the
    launcher names this rank's error (torch's ``@record``, for an error the CLI handles)."""
    if "TORCHELASTIC_ERROR_FILE" not in os.environ:
        return
    from torch.distributed.elastic.multiprocessing.errors import ErrorHandler

    ErrorHandler().record_exception(exc)
