"""The training loop shared by every task.

The task computes outputs and losses; the trainer alternates the D and G updates, wraps them
in autocast, steps optimizers and schedulers, keeps the EMA generator, logs, writes samples and
checkpoints, and resumes exactly.
"""

from __future__ import annotations

import contextlib
import copy
import os
import random
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from imgen.config import split_list, to_dict
from imgen.data.sampler import SampleStream
from imgen.engine import checkpoint as ckpt
from imgen.engine import distributed
from imgen.engine.device import autocast, default_workers, resolve_device, resolve_precision
from imgen.engine.ema import EMA
from imgen.engine.loading import load_network
from imgen.engine.loggers import Tracker, make_loggers
from imgen.engine.rundir import MetricsLog, new_run_dir, write_config
from imgen.engine.samples import save_grid
from imgen.engine.schedule import phase_factors
from imgen.errors import ImgenError, UsageError
from imgen.task import Task

Callback = Callable[["Trainer"], None]

# How the samples, the progress bar and the report name the phases of a two-phase run.
PHASE_NAMES = {"pretrain": "pixel loss", "gan": "GAN"}


class NonFiniteError(ImgenError):
    """A loss or gradient became NaN or infinite (the run diverged)."""


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Runs a task's training from a config (a new run, or ``cfg.resume``).

    Args:
        task: a fresh task instance.
        cfg: the task's config dataclass.
        callbacks: called after every step with the trainer (tests use it to interrupt).
        quiet: no progress bar.
    """

    # Seams for ``imgen bench``, which times this trainer's real step in each of its modes:
    # keyword arguments for every AdamW instead of imgen's choice (fused on CUDA), and for
    # torch.compile under --compile (e.g. mode="reduce-overhead" for CUDA graphs).
    optimizer_options: dict[str, Any] | None = None
    compile_options: dict[str, Any] = {}

    def __init__(
        self, task: Task, cfg: Any, *, callbacks: list[Callback] | None = None, quiet: bool = False
    ) -> None:
        self.task, self.cfg = task, cfg
        self.callbacks = callbacks or []
        self.quiet = quiet
        self.dist, self.device = distributed.setup(resolve_device(cfg.device), cfg.dist_timeout)
        world = self.dist.world_size
        if cfg.batch_size % (cfg.grad_accum * world):
            ranks = f" x {world} ranks" if world > 1 else ""
            raise UsageError(
                f"--batch-size {cfg.batch_size} is not divisible by --grad-accum "
                f"{cfg.grad_accum}{ranks}; the batch is split into micro-batches"
                + (" on every rank" if world > 1 else "")
            )
        self.dtype = resolve_precision(cfg.precision, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = not cfg.deterministic
        seed_everything(cfg.seed)  # the same initial weights on every rank

        task.setup(cfg, self.device, train=True)
        # A pixel-loss phase first (sr's ESRGAN recipe): the networks of the GAN phase join
        # at its end (see _enter_gan_phase); "phase" is None in a one-phase run.
        self.pretrain_steps = task.pretrain_steps(cfg)
        self.phase: str | None = "pretrain" if self.pretrain_steps else None
        gan_lr = cfg.resolved_gan_lr() if hasattr(cfg, "resolved_gan_lr") else cfg.lr
        if getattr(cfg, "pretrain_steps", 0) is None:
            # Stored worked out, so that `--resume RUN --steps N` keeps the phases' boundary.
            cfg.pretrain_steps = self.pretrain_steps
        self.lr_rules = phase_factors(
            cfg.lr_schedule,
            cfg.steps,
            pretrain=self.pretrain_steps,
            warmup=cfg.warmup,
            start=task.lr_decay_start(cfg),
            gan_ratio=gan_lr / cfg.lr if cfg.lr else 1.0,  # --lr 0: nothing to scale
        )
        self.lr_ratio, self.gan_lr = (gan_lr / cfg.lr if cfg.lr else 1.0), gan_lr
        self.d_base_lr = cfg.d_lr if cfg.d_lr is not None else gan_lr
        # Default (None): on CUDA only. `imgen bench --quick --device cpu` measured it from
        # 0.85x (dcgan) to 1.13x (srresnet) of NCHW on the CPU, where it is no safe default.
        self.channels_last = (
            cfg.channels_last if cfg.channels_last is not None else self.device.type == "cuda"
        )
        self.nets: dict[str, nn.Module] = {}
        self.groups: dict[str, list[str]] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self._wrapped: dict[str, nn.Module] = {}
        self._compiled: dict[tuple[str, str], nn.Module] = {}
        self._add_networks(task.build(cfg))
        if "G" not in self.groups:
            raise UsageError(
                f"task {task.name!r} built no trainable generator "
                f"(networks: {', '.join(self.nets)})"
            )
        g_nets = {n: self.nets[n] for n in self.groups["G"]}
        self.ema = EMA(g_nets, cfg.ema) if cfg.ema > 0 else None

        self.step = 0
        self.train_seconds = 0.0
        self._replanned: dict[str, Any] | None = None  # --resume with another --steps
        self.nonfinite_skipped = 0
        self.best: dict[str, Any] | None = None  # {"metric", "value", "step"} of validation
        self.saved_step: int | None = None  # the step of the newest checkpoint, if any
        # The data is checked before a run directory exists: a bad --data leaves nothing behind.
        self.dataset = task.dataset(cfg, cfg.data, "train")
        # Every rank measures its own memory; all stop when one cannot hold its micro-batch.
        problems = [p for p in self.dist.gather(self._batch_memory_problem()) if p]
        if problems:
            raise UsageError(problems[0])
        # So are the --logger names and packages (on every rank: each stops in one sentence).
        loggers = make_loggers(split_list(cfg.logger))
        if cfg.init and not cfg.resume:
            self._load_init(cfg.init)
        if cfg.resume:
            self.run_dir = Path(cfg.resume)
            if self.dist.is_main:
                for stale in ckpt.remove_stale(self.run_dir / "checkpoints"):
                    self._say(f"removed {stale.name}, left by an interrupted save")
            self.dist.barrier()
            self._load()
        else:  # rank 0 names and creates it; the others learn its path
            made = new_run_dir(cfg.out, task.name, cfg.name) if self.dist.is_main else None
            self.run_dir = Path(self.dist.broadcast(None if made is None else str(made)))
        if self.dist.is_main:
            self._write_config()
        self.log = (
            Tracker(MetricsLog(self.run_dir), loggers, say=self._say)
            if self.dist.is_main
            else _NoLog()
        )
        if self.dist.enabled:  # the ranks' own randomness (dropout, pools) differs
            seed_everything(cfg.seed + self.dist.rank)
        self._fixed_batch: dict | None = None
        self._said_labels = False

    # -- construction ------------------------------------------------------------------------
    def _add_networks(self, new: dict[str, nn.Module]) -> None:
        """Put ``new`` networks into the run: on the device, in its layout, in their groups,
        with the optimizers, schedules and scalers of the groups they open, and in the views
        each update runs."""
        cfg, task = self.cfg, self.task
        new = {k: v.to(self.device) for k, v in new.items()}
        if cfg.sync_bn and self.dist.enabled:
            new = {k: distributed.convert_sync_batchnorm(v, self.device) for k, v in new.items()}
        if self.channels_last:
            for net in new.values():
                net.to(memory_format=torch.channels_last)
        self.nets.update(new)
        self.groups = {
            k: v
            for k, v in task.groups(self.nets).items()
            if any(count_parameters(self.nets[n]) for n in v)
        }
        if task.spectral_norm():
            # Before the optimizers (they hold the new parameters) and before --resume loads
            # weights (whose keys are those of the normalized networks).
            from imgen.nn.spectral import apply_spectral_norm

            for name in self.groups.get("D", []):
                if name in new:
                    apply_spectral_norm(self.nets[name])
        g_rule, d_rule = self.lr_rules
        for group, names in self.groups.items():
            if group in self.optimizers:
                continue
            self.optimizers[group] = self._optimizer(group, names)
            rule = g_rule if group == "G" else d_rule
            self.schedulers[group] = torch.optim.lr_scheduler.LambdaLR(self.optimizers[group], rule)
            self.scalers[group] = torch.amp.GradScaler(
                self.device.type, enabled=self.dtype is torch.float16
            )
        # What each update runs: its own group's networks in DistributedDataParallel (when
        # there are several ranks), the other group's unwrapped, so that an update
        # all-reduces the gradients of the networks it optimizes and no others.
        for names in self.groups.values():
            for name in names:
                if name not in self._wrapped:
                    self._wrapped[name] = self.dist.wrap(self.nets[name], self.device)
        self.views = {
            group: {
                k: self._view(group, k, self._wrapped[k] if k in names else v)
                for k, v in self.nets.items()
            }
            for group, names in self.groups.items()
        }
        self.samples_per_step = cfg.batch_size * (task.d_steps() if "D" in self.groups else 1)

    def sample_bytes(self) -> int | None:
        """Bytes one training sample holds in the generator's step: the batch, and what
        autograd keeps of the forward and the generator loss for the backward (the
        discriminator's and a loss network's activations included). None: it could not be
        measured (the first step then meets and reports the failure).

        A lower bound of a step's memory per sample: the backward's gradients come on top
        (and the GAN phase's discriminator, in a two-phase run). The run is left as it was:
        its randomness, batch norm's running statistics (measured in eval mode) and the
        task's own state (which a task's loss may change).
        """
        from imgen.engine.device import saved_activation_bytes

        rng, task_state = ckpt.rng_state(), copy.deepcopy(self.task.state_dict())
        training = {name: net.training for name, net in self.nets.items()}
        frozen = self._trainable_outside("G")  # as in the generator's update

        def generator_step(batch: dict) -> torch.Tensor:
            return self.task.g_loss(self.nets, batch, self.task.forward(self.nets, batch))[0]

        try:
            item = SeededItems(self.dataset)[(0, self.cfg.seed)]  # as the loader gives it
            batch = self.prepare_batch(torch.utils.data.default_collate([item]))
            held = sum(v.nbytes for v in batch.values() if isinstance(v, torch.Tensor))
            for net in self.nets.values():
                net.eval()
            for p in frozen:
                p.requires_grad_(False)
            with autocast(self.device, self.dtype):
                saved, _ = saved_activation_bytes(generator_step, batch)
        except ImgenError:  # unreadable data, a bad option: the same sentence as step 1's
            raise
        except Exception:  # anything else, the first step meets and reports as it would have
            return None
        finally:
            for p in frozen:
                p.requires_grad_(True)
            for name, net in self.nets.items():
                net.train(training[name])
            if task_state is not None:
                self.task.load_state_dict(task_state)
            ckpt.set_rng_state(rng)
        return saved + held

    def _batch_memory_problem(self) -> str | None:
        """Why the memory cannot hold a micro-batch of :meth:`sample_bytes` samples (None
        when it can, or cannot be told). So ``--batch-size 100000`` stops in a sentence
        instead of swapping the machine to a halt."""
        from imgen.engine.device import available_memory

        cfg = self.cfg
        have = available_memory(self.device)
        if not have:  # unknown (an accelerator that does not say): nothing to check against
            return None
        one = self.sample_bytes()
        if one is None:
            return None
        micro = cfg.batch_size // cfg.grad_accum // self.dist.world_size
        # Ranks on one machine share its RAM (on a GPU each has its own memory).
        sharing = int(os.environ.get("LOCAL_WORLD_SIZE", 1)) if self.device.type == "cpu" else 1
        need = one * micro * sharing
        if need <= have:
            return None
        fits = have // (one * sharing)
        split = f" (micro-batches of {micro})" if micro != cfg.batch_size else ""
        world = self.dist.world_size
        ranks = f" / {world} ranks" if world > 1 else ""
        where = "GPU memory" if self.device.type == "cuda" else "memory"
        return (
            f"--batch-size {cfg.batch_size}{split} needs at least {_size(need)} of {where} for "
            f"the generator's step alone ({_size(one)} a sample, measured on one), more than "
            f"the {_size(have)} available; "
            + (
                f"at most {fits} samples can fit at a time (fewer once gradients and the "
                "discriminator count): lower --batch-size, or raise --grad-accum so that "
                f"--batch-size / --grad-accum{ranks} is at most {fits}"
                if fits
                else "one sample does not fit: lower --crop or the model's size"
            )
        )

    def _view(self, group: str, name: str, net: nn.Module) -> nn.Module:
        """``net`` as ``group``'s update runs it: compiled once under --compile."""
        if not self.cfg.compile:
            return net
        key = (group, name)
        if key not in self._compiled:
            self._compiled[key] = torch.compile(net, **self.compile_options)
        return self._compiled[key]

    def _enter_gan_phase(self, *, resumed: bool = False) -> None:
        """End the pixel-loss phase: build the GAN phase's networks from a seed of their own
        (the same D whether the run got here in one go or resumed), and, unless a checkpoint
        of the GAN phase is about to be loaded (``resumed``), start the generator from its
        EMA weights with fresh optimizer moments, as Real-ESRGAN's GAN run loads the PSNR
        run's ``params_ema``."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.cfg.seed + 7919)  # not the run's stream: it stays as is
            new = self.task.gan_networks(self.cfg)
        self._add_networks(new)
        self.phase = "gan"
        if resumed:
            return
        if self.ema:
            for name, net in self.ema.nets.items():
                self.nets[name].load_state_dict(net.state_dict())
        self.optimizers["G"].state.clear()
        parameters = ", ".join(f"{k} {count_parameters(v) / 1e6:.2f}M" for k, v in new.items())
        lr = self.optimizers["G"].param_groups[0]["lr"]
        self._say(
            f"step {self.step}: the pixel-loss phase is done; the GAN phase begins from its "
            f"{'EMA ' if self.ema else ''}weights with a new {parameters or 'discriminator'} "
            f"(generator lr {lr:.3g})"
        )
        self.log.write("phase", step=self.step, phase="gan")
        if self.dist.is_main:
            self._write_config()

    def _samples_before(self, step: int) -> int:
        """Samples the seeded stream gave to steps before ``step`` (a GAN step with extra
        critic updates takes several batches, a pixel-loss step one)."""
        if "D" not in self.groups or not self.pretrain_steps:
            return step * self.samples_per_step
        pre = min(step, self.pretrain_steps)
        return pre * self.cfg.batch_size + (step - pre) * self.samples_per_step

    def _write_config(self) -> None:
        write_config(
            self.run_dir,
            self.task.name,
            to_dict(self.cfg),
            {
                k: {"class": type(v).__name__, "parameters": count_parameters(v)}
                for k, v in self.nets.items()
            },
            world_size=self.dist.world_size,
        )

    def _optimizer(self, group: str, names: list[str]) -> torch.optim.Optimizer:
        params = [p for n in names for p in self.nets[n].parameters() if p.requires_grad]
        # G's base is --lr (its schedule scales it to --gan-lr in the GAN phase), D's its own.
        lr = self.cfg.lr if group == "G" else self.d_base_lr
        # Fused AdamW (one kernel for the whole update) is the default on CUDA and the CPU:
        # `imgen bench --quick --device cpu` (2026-12-02) measured it never slower than the
        # plain update on any task (1.03x style .. 1.42x translate); the same math.
        kwargs: dict[str, Any] = {"fused": True} if self.device.type in ("cuda", "cpu") else {}
        if self.optimizer_options is not None:
            kwargs = dict(self.optimizer_options)
        options = {
            "lr": lr,
            "betas": (self.cfg.beta1, self.cfg.beta2),
            "weight_decay": self.cfg.weight_decay,
        }
        try:
            return torch.optim.AdamW(params, **options, **kwargs)
        except RuntimeError:  # a torch without a fused CPU kernel (before 2.4)
            if self.optimizer_options is not None or not kwargs.get("fused"):
                raise
            return torch.optim.AdamW(params, **options)

    def loader(self) -> torch.utils.data.DataLoader:
        """The training loader: micro-batches of the seeded sample stream, from this step on.

        With several ranks each takes its share of every global batch (rank r: positions r,
        r + world, ...), so together they consume the samples one process would.
        """
        workers = self.cfg.workers if self.cfg.workers >= 0 else default_workers(self.device)
        micro = self.cfg.batch_size // self.cfg.grad_accum // self.dist.world_size
        sampler = SampleStream(
            len(self.dataset),
            base_seed=self.cfg.seed,
            start=self._samples_before(self.step),
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        return torch.utils.data.DataLoader(
            SeededItems(self.dataset),
            batch_size=micro,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            drop_last=True,
        )

    # -- checkpoints -------------------------------------------------------------------------
    def save(self) -> None:
        """Write the whole training state as one checkpoint (``checkpoints/step_N/``).

        Collective when there are several ranks: each gives its own RNG and task state (the
        style task's image pools), rank 0 writes, and no rank goes on before the checkpoint
        is whole.
        """
        rngs = self.dist.gather(ckpt.rng_state())
        tasks = self.dist.gather(self.task.state_dict())
        state = {
            "step": self.step,
            "planned_steps": self.cfg.steps,  # what the LR schedule was planned over
            "train_seconds": self.train_seconds,
            "optimizers": {g: o.state_dict() for g, o in self.optimizers.items()},
            "schedulers": {g: s.state_dict() for g, s in self.schedulers.items()},
            "scalers": {g: s.state_dict() for g, s in self.scalers.items()},
            "rng": rngs[0],
            "task": tasks[0],
            "best": self.best,
        }
        if self.dist.enabled:
            state["ranks"] = {"rng": rngs, "task": tasks}
        if self.dist.is_main:
            ckpt.save_checkpoint(
                self.run_dir / "checkpoints",
                self.nets,
                self.ema.nets if self.ema else None,
                state,
                keep=self.cfg.keep,
                protect=(self.best["step"],) if self.best else (),
            )
        self.dist.barrier()
        self.saved_step = self.step

    def _load(self) -> None:
        found = ckpt.load_checkpoint(
            self.run_dir, warn=self._say, restart=bool(getattr(self.cfg, "restart", False))
        )
        if found is None:
            self._load_initial()
            return
        flat, state = found
        if self.phase == "pretrain" and state["step"] > self.pretrain_steps:
            self._enter_gan_phase(resumed=True)  # its networks are in the checkpoint
        weights, ema = ckpt.split_weights(flat)
        for name, net in self.nets.items():
            load_network(net, weights, name, self.run_dir)
        if self.ema:
            for name, net in self.ema.nets.items():
                load_network(net, ema, name, self.run_dir, what="EMA copy of ")
        for g, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][g])
        for g, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][g])
            # The LR rule comes from this run's config (--steps may have grown): re-apply it.
            for group, base, f in zip(
                s.optimizer.param_groups, s.base_lrs, s.lr_lambdas, strict=True
            ):
                group["lr"] = base * f(s.last_epoch)
        for g, s in self.scalers.items():
            s.load_state_dict(state["scalers"][g])
        # Each rank's own RNG and task state; a run resumed on another number of ranks gives
        # rank r those of rank r modulo the old number.
        ranks = state.get("ranks") or {"rng": [state["rng"]], "task": [state.get("task")]}
        mine = self.dist.rank
        task_state = ranks["task"][mine % len(ranks["task"])]
        if task_state is not None:
            self.task.load_state_dict(task_state)
        ckpt.set_rng_state(ranks["rng"][mine % len(ranks["rng"])])
        self.step = self.saved_step = state["step"]
        self.train_seconds = state.get("train_seconds", 0.0)
        planned = state.get("planned_steps")
        if planned and planned != self.cfg.steps and self.cfg.lr_schedule != "constant":
            self._replanned = self._replan_note(planned)
        self.best = state.get("best")

    def _replan_note(self, planned: int) -> dict[str, Any]:
        """What a resume with another --steps does to a decaying schedule: it is planned
        again over the new --steps, as if the run had been started with them (the step's LR
        may jump: up when a finished run is trained on); the numbers for the message."""
        cfg = self.cfg
        old_rule, _ = phase_factors(
            cfg.lr_schedule,
            planned,
            pretrain=self.pretrain_steps,
            warmup=cfg.warmup,
            start=self.task.lr_decay_start(cfg),
            gan_ratio=self.lr_ratio,
        )
        new_rule = self.lr_rules[0]
        return {
            "planned_steps": planned,
            "steps": cfg.steps,
            "lr_before": cfg.lr * old_rule(self.step),
            "lr_after": cfg.lr * new_rule(self.step),
        }

    def _load_init(self, run: str) -> None:
        """``--init RUN``: every network RUN has (G's EMA copy where it kept one), strictly;
        the others (a discriminator a PSNR-oriented run never had) start from scratch."""
        from imgen.engine.checkpoint import load_weights

        weights = load_weights(run, ema=True)
        loaded = [name for name in self.nets if name in weights]
        if not any(name in loaded for name in self.groups["G"]):
            wanted = ", ".join(self.groups["G"])
            raise UsageError(
                f"--init {run} has no weights for this run's generator ({wanted}); it holds: "
                f"{', '.join(sorted(weights)) or 'none'}"
            )
        for name in loaded:
            load_network(self.nets[name], weights, name, run)
        if self.ema:
            for name, net in self.ema.nets.items():
                net.load_state_dict(self.nets[name].state_dict())
        fresh = [name for name in self.nets if name not in loaded]
        self._say(
            f"--init: {', '.join(loaded)} from {run}"
            + (f"; {', '.join(fresh)} from scratch" if fresh else "")
        )

    def _load_initial(self) -> None:
        """A run without a checkpoint starts at step 0: from the weights ``imgen import``
        wrote, where it has them, else from scratch (a run killed before its first save)."""
        initial = ckpt.initial_weights(self.run_dir)
        if initial is None:
            self._say(f"{self.run_dir} has no checkpoint yet; starting it from step 0")
            return
        loaded = []
        for name, net in self.nets.items():
            if name in initial:
                load_network(net, initial, name, self.run_dir)
                loaded.append(name)
        if self.ema:
            for name, net in self.ema.nets.items():
                if name in initial:
                    net.load_state_dict(self.nets[name].state_dict())
        fresh = [name for name in self.nets if name not in loaded]
        self._say(
            f"starting {self.run_dir} at step 0 from its imported weights ({', '.join(loaded)})"
            + (f"; {', '.join(fresh)} start from scratch" if fresh else "")
        )

    # -- one step ----------------------------------------------------------------------------
    def _batches(self, it) -> list[dict]:
        return [self.prepare_batch(next(it)) for _ in range(self.cfg.grad_accum)]

    def prepare_batch(self, batch: dict) -> dict:
        """A loader batch as the step takes it: the task's ``prepare``, then channels_last.

        ``sample_seed`` (each sample's seed, int64) stays in the batch whatever ``prepare``
        keeps: randomness drawn on the device from it (WGAN-GP's interpolation) depends on the
        samples alone, not on the batch or the rank.
        """
        seeds = batch.get("sample_seed")
        batch = self.task.prepare(batch)
        if seeds is not None and "sample_seed" not in batch:
            batch["sample_seed"] = seeds.to(self.device, non_blocking=True)
        if self.channels_last:
            batch = {
                k: v.contiguous(memory_format=torch.channels_last)
                if isinstance(v, torch.Tensor) and v.dim() == 4
                else v
                for k, v in batch.items()
            }
        return batch

    def _forward(self, batch: dict, group: str = "G") -> dict:
        with autocast(self.device, self.dtype):
            return self.task.forward(self.views[group], batch)

    def _trainable_outside(self, group: str) -> list[nn.Parameter]:
        """The trainable parameters of the other groups' networks, which ``group``'s update
        freezes (parameters a network keeps frozen stay frozen: they are not listed)."""
        return [
            p
            for g, names in self.groups.items()
            if g != group
            for n in names
            for p in self.nets[n].parameters()
            if p.requires_grad
        ]

    def _update(
        self,
        group: str,
        loss_fn: Callable,
        batches: list[dict],
        outs: list[dict] | None,
        logs: dict,
    ) -> list[dict]:
        """Accumulate ``loss_fn`` over the micro-batches and step ``group``'s optimizer."""
        frozen = self._trainable_outside(group)
        for p in frozen:  # no gradients into the other group's networks
            p.requires_grad_(False)
        kept = []
        total = torch.zeros((), device=self.device)
        try:
            for i, batch in enumerate(batches):
                out = outs[i] if outs is not None else self._forward(batch, group)
                with autocast(self.device, self.dtype):
                    loss, parts = loss_fn(self.views[group], batch, out)
                total = total + loss.detach().float()
                self.scalers[group].scale(loss / len(batches)).backward()
                kept.append(
                    {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in out.items()}
                )
                for k, v in parts.items():
                    v = v.detach() if isinstance(v, torch.Tensor) else torch.tensor(float(v))
                    logs[k] = logs.get(k, 0) + v.float() / len(batches)
        finally:
            for p in frozen:
                p.requires_grad_(True)
        opt, scaler = self.optimizers[group], self.scalers[group]
        if not self._finite(group, total, logs):
            opt.zero_grad(set_to_none=True)  # the step is skipped: weights stay finite
            return kept
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        return kept

    def _finite(self, group: str, loss: torch.Tensor, logs: dict) -> bool:
        """Whether ``group``'s loss and gradients are finite; stops the run when not.

        With fp16 the GradScaler already skips steps with inf/NaN gradients (its way of
        finding the scale), so only the loss is checked there. One sync per update.
        """
        check = loss
        if not self.scalers[group].is_enabled():
            params = [p for n in self.groups[group] for p in self.nets[n].parameters()]
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                check = check + torch.stack(torch._foreach_norm(grads)).sum()
        if bool(torch.isfinite(check)):
            return True
        parts = [k for k, v in logs.items() if isinstance(v, torch.Tensor) and not v.isfinite()]
        what = f"loss {float(loss):.4g}" + (f" ({', '.join(parts)})" if parts else "")
        if not torch.isfinite(loss):
            what = f"non-finite {what}"
        else:
            what = f"non-finite gradients ({what})"
        self.nonfinite_skipped += 1
        if self.nonfinite_skipped > self.cfg.skip_nonfinite:
            kept = (
                "no checkpoint was written"
                if self.saved_step is None
                else f"the last checkpoint (step {self.saved_step}, finite) is kept"
            )
            raise NonFiniteError(
                f"training diverged at step {self.step + 1}: the {group} update has a {what}; "
                f"{kept}. Lower --lr, or pass --skip-nonfinite N to skip such steps"
            )
        self._say(
            f"skipped the {group} update of step {self.step + 1}: {what} "
            f"({self.nonfinite_skipped} of --skip-nonfinite {self.cfg.skip_nonfinite})"
        )
        return False

    def train_step(self, it) -> dict[str, Any]:
        logs: dict[str, Any] = {}
        has_d = "D" in self.groups
        if not has_d:
            self._update("G", self.task.g_loss, self._batches(it), None, logs)
        else:
            for _ in range(self.task.d_steps() - 1):  # extra critic steps, own batches
                batches = self._batches(it)
                with torch.no_grad():
                    outs = [self._forward(b, "D") for b in batches]
                self._update("D", self.task.d_loss, batches, outs, logs)
            batches = self._batches(it)
            # With one micro-batch the generator's forward is shared by both updates.
            shared = [self._forward(batches[0])] if len(batches) == 1 else None
            if self.task.d_first:
                d_outs = shared
                if d_outs is None:
                    with torch.no_grad():
                        d_outs = [self._forward(b, "D") for b in batches]
                self._update("D", self.task.d_loss, batches, d_outs, logs)
                self._update("G", self.task.g_loss, batches, shared, logs)
            else:
                kept = self._update("G", self.task.g_loss, batches, shared, logs)
                self._update("D", self.task.d_loss, batches, kept, logs)
        with warnings.catch_warnings():  # a skipped (non-finite) first update is no misuse
            warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)`")
            for s in self.schedulers.values():
                s.step()
        self.step += 1
        if self.ema:
            self.ema.update({n: self.nets[n] for n in self.groups["G"]}, self.step)
        return logs

    # -- outputs -----------------------------------------------------------------------------
    def eval_nets(self) -> dict[str, nn.Module]:
        """The networks to evaluate and sample with: EMA copies where there are some."""
        nets = dict(self.nets)
        if self.ema:
            nets.update(self.ema.nets)
        return nets

    @contextlib.contextmanager
    def _eval_mode(self):
        nets = self.eval_nets()
        modes = {k: n.training for k, n in nets.items()}
        for n in nets.values():
            n.eval()
        try:
            with torch.no_grad():
                yield nets
        finally:
            for k, n in nets.items():
                n.train(modes[k])

    def write_samples(self) -> Path | None:
        if self._fixed_batch is None or not self.dist.is_main:
            return None
        # A generation task (takes_image False) samples its own fixed noise: no data batch.
        batch = self._fixed_batch if self.task.takes_image else {}
        with self._eval_mode() as nets:
            with autocast(self.device, self.dtype):
                out = self.task.forward(nets, batch)
            columns = self.task.sample_columns(batch, out)
            labels = list(self.task.sample_labels(batch, out))
        if labels and len(labels) != len(columns):
            if not self._said_labels:
                self._said_labels = True
                self._say(
                    f"task {self.task.name!r} names {len(labels)} sample columns but draws "
                    f"{len(columns)}; its sample grids go unlabelled (fix sample_labels())"
                )
            labels = []
        path = self.run_dir / "samples" / f"step_{self.step:06d}.png"
        title = f"step {self.step} - {PHASE_NAMES[self.phase]}" if self.phase else None
        save_grid(columns, path, labels=labels or None, title=title)
        self.log.image(self.step, "samples", path)
        return path

    def evaluate(self) -> dict[str, Any] | None:
        """Validation on ``--eval-data``: on rank 0, its result shared with every rank."""
        if not self.cfg.eval_data:
            return None
        result = None
        if self.dist.is_main:
            with self._eval_mode() as nets:
                result = self.task.evaluate(nets, self.cfg.eval_data)
        result = self.dist.broadcast(result)
        self.log.write(
            "eval",
            step=self.step,
            minutes=round(self.train_seconds / 60, 3),
            **result.get("metrics", {}),
        )
        self._track_best(result.get("metrics", {}))
        return result

    def _track_best(self, metrics: dict[str, Any]) -> None:
        """Keep the checkpoint of the best validation so far (the task's first metric)."""
        name = next((m for m in self.task.metrics if m in metrics), None)
        if name is None or not isinstance(metrics[name], (int, float)):
            return
        from imgen.plugins import registries

        higher = registries().metrics.entry(name).meta.get("higher_is_better", True)
        value = float(metrics[name])
        best = self.best
        if best and (value <= best["value"] if higher else value >= best["value"]):
            return
        self.best = {"metric": name, "value": value, "step": self.step}
        self.save()  # the best step's checkpoint must exist, and is then never pruned
        self.log.write("best", step=self.step, **{name: value})

    # -- the loop ----------------------------------------------------------------------------
    def fit(self) -> Path:
        """Train until ``cfg.steps`` (or the time limit); returns the run directory."""
        previous = torch.are_deterministic_algorithms_enabled()
        if self.cfg.deterministic and self.device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it
        torch.use_deterministic_algorithms(self.cfg.deterministic or previous)
        try:
            return self._fit()
        finally:
            self.log.close()
            torch.use_deterministic_algorithms(previous)
            self.dist.close()

    def _fit(self) -> Path:
        cfg = self.cfg
        if self.step >= cfg.steps:
            self._say(
                f"run {self.run_dir} is already at step {self.step} (--steps "
                f"{cfg.steps}); pass a larger --steps to train on"
            )
            return self.run_dir
        for net in self.nets.values():
            net.train()
        loader = self.loader()
        timed = _Timed(iter(loader))
        rng = ckpt.rng_state()  # the fixed sample batch must not shift the run's randomness
        self._fixed_batch = {
            k: v[:4] if isinstance(v, torch.Tensor) else v
            for k, v in self.prepare_batch(next(iter(self._sample_loader()))).items()
        }
        ckpt.set_rng_state(rng)
        self.log.open(self.run_dir, to_dict(cfg), self.step)
        self.log.write(
            "start",
            step=self.step,
            steps=cfg.steps,
            device=str(self.device),
            precision=str(self.dtype or "fp32"),
            resumed=bool(cfg.resume),
            **({"phase": self.phase, "pretrain_steps": self.pretrain_steps} if self.phase else {}),
        )
        self._say_plan()
        bar = self._progress()
        window: dict[str, Any] = {}
        # Rates use training time only: samples, checkpoints and evaluations don't count.
        window_steps, wait, window_start = 0, 0.0, self.train_seconds
        interrupted = False
        stop = _DeferredInterrupt(self._say)
        try:
            stop.install()
            while self.step < cfg.steps:
                if self.phase == "pretrain" and self.step >= self.pretrain_steps:
                    self._enter_gan_phase()
                    bar.set_phase(self.phase)
                lr = self.optimizers["G"].param_groups[0]["lr"]  # this step's
                t0 = time.perf_counter()
                logs = self.train_step(timed)
                wait, timed.wait = wait + timed.wait, 0.0
                self.train_seconds += time.perf_counter() - t0
                for k, v in logs.items():
                    window[k] = window.get(k, 0) + v
                window_steps += 1
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    elapsed = max(self.train_seconds - window_start, 1e-9)
                    averaged = self.dist.mean({k: float(v) for k, v in window.items()})
                    values = {k: round(v / window_steps, 6) for k, v in averaged.items()}
                    self.log.write(
                        "train",
                        step=self.step,
                        minutes=round(self.train_seconds / 60, 3),
                        lr=lr,
                        steps_per_s=round(window_steps / elapsed, 4),
                        data_wait=round(wait / elapsed, 4),
                        **({"phase": self.phase} if self.phase else {}),
                        **values,
                    )
                    bar.show(
                        {k: f"{v:.4g}" for k, v in values.items()}
                        | {"wait": f"{wait / elapsed:.0%}"}
                    )
                    window, window_steps, wait = {}, 0, 0.0
                    window_start = self.train_seconds
                if cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.write_samples()
                if cfg.save_every and self.step % cfg.save_every == 0:
                    self.save()
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    self.evaluate()
                for callback in self.callbacks:
                    callback(self)
                # With several ranks, a signal or the time limit on any one stops them all at
                # this step (their clocks differ), so that the save below is one checkpoint.
                limit, requested = self.dist.any(
                    bool(cfg.time_limit and self.train_seconds >= cfg.time_limit * 60),
                    stop.requested,
                )
                if limit:
                    self._say(f"time limit of {cfg.time_limit} min reached at step {self.step}")
                    break
                if requested:
                    interrupted = True
                    break
        except KeyboardInterrupt:
            if stop.requested:  # a second Ctrl-C, possibly mid-step: leave without saving
                raise
            interrupted = True  # raised between steps (by a callback): the state is whole
        except NonFiniteError:
            # The step that diverged, as the message names it (self.step is the last whole one).
            self.log.write("diverged", step=self.step + 1)
            raise
        finally:
            stop.uninstall()
            bar.close()
        self.save()
        self.write_samples()
        if interrupted:
            self.log.write("interrupted", step=self.step)
            self._say(
                f"interrupted at step {self.step}; continue with "
                f"imgen train {self.task.name} --resume {self.run_dir}"
            )
            raise Interrupted(stop.signum)
        if cfg.eval_data and not (cfg.eval_every and self.step % cfg.eval_every == 0):
            self.evaluate()
        self.log.write("end", step=self.step, minutes=round(self.train_seconds / 60, 3))
        return self.run_dir

    def _sample_loader(self) -> torch.utils.data.DataLoader:
        sampler = SampleStream(len(self.dataset), base_seed=self.cfg.seed + 1)
        return torch.utils.data.DataLoader(
            self.dataset, batch_size=min(4, len(self.dataset)), sampler=sampler, num_workers=0
        )

    def _progress(self) -> _TrainingBar:
        bar = _TrainingBar(
            self.cfg.steps, self.step, self.task.name, self.quiet or not self.dist.is_main
        )
        if self.phase:
            bar.set_phase(self.phase)
        return bar

    def _say_plan(self) -> None:
        """At the start: the phases of a two-phase run, and a re-planned schedule."""
        cfg = self.cfg
        if self._replanned:
            note = self._replanned
            self.log.write("schedule_replanned", step=self.step, **note)
            change = "extends" if note["steps"] > note["planned_steps"] else "shortens"
            self._say(
                f"--steps {note['steps']} {change} the run planned for {note['planned_steps']} "
                f"steps: its {cfg.lr_schedule} LR schedule is planned again over "
                f"{note['steps']} steps, as if the run had started with them (the LR at step "
                f"{self.step} goes from {note['lr_before']:.3g} to {note['lr_after']:.3g})"
            )
        if self.phase != "pretrain" or cfg.resume:
            return
        gan_lr = self.gan_lr
        self._say(
            f"two phases: steps 1-{self.pretrain_steps} train the pixel loss alone (lr "
            f"{cfg.lr:g}, {cfg.lr_schedule}); steps {self.pretrain_steps + 1}-{cfg.steps} the "
            f"GAN from those weights, with a discriminator created then (lr {gan_lr:g}, "
            f"{cfg.lr_schedule}); --pretrain-steps 0 trains the GAN from step 0"
        )

    def _say(self, message: str) -> None:
        if not self.dist.is_main:  # one voice for the whole job
            return
        print(f"imgen: {message}", file=sys.stderr)


def _size(n: float) -> str:
    """``n`` bytes as a person reads them: 212 KB, 1.6 MB, 154.3 GB."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 2**10:.0f} KB"


class SeededItems(torch.utils.data.Dataset):
    """A training dataset whose items also carry ``sample_seed``: the low 63 bits of the seed
    the item was drawn with (an int64)."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]) -> dict[str, Any]:
        out = self.dataset[item]
        if isinstance(out, dict) and isinstance(item, tuple):
            out = {**out, "sample_seed": item[1] & (2**63 - 1)}
        return out


class _TrainingBar:
    """The training progress bar: as wide as the terminal (80 columns when it cannot tell),
    never wider; the losses follow the bar when they fit, else they get a line of their own
    under it."""

    BAR = 50  # what the bar itself takes: name, percentage, bar, counts, rate

    def __init__(self, total: int, initial: int, name: str, disable: bool) -> None:
        import shutil

        from tqdm.auto import tqdm

        self.width = max(40, shutil.get_terminal_size((80, 24)).columns)
        common = {"file": sys.stderr, "disable": disable, "ncols": self.width}
        self.name = name
        self.bar = tqdm(total=total, initial=initial, unit="step", desc=name, **common)
        self.status: Any = None
        self._tqdm, self._common = tqdm, common

    def update(self, n: int) -> None:
        self.bar.update(n)

    def set_phase(self, phase: str) -> None:
        self.bar.set_description(f"{self.name} {phase}", refresh=False)

    def show(self, values: dict[str, str]) -> None:
        text = ", ".join(f"{k}={v}" for k, v in values.items())
        if len(text) + self.BAR <= self.width and self.status is None:
            self.bar.set_postfix_str(text)
            return
        if self.status is None:  # a second line, under the bar
            self.status = self._tqdm(total=0, position=1, bar_format="{desc}", **self._common)
        self.status.set_description_str(text[: self.width - 1])

    def close(self) -> None:
        if self.status is not None:
            self.status.close()
        self.bar.close()


class _NoLog:
    """The metrics log and loggers of ranks other than 0: they write nothing."""

    def open(self, run_dir: Path, config: dict[str, Any], step: int) -> None:
        pass

    def write(self, event: str, **values: Any) -> None:
        pass

    def image(self, step: int, name: str, path: Path) -> None:
        pass

    def close(self) -> None:
        pass

    def read(self) -> list[dict[str, Any]]:
        return []


class _Timed:
    """Wraps the batch iterator to measure how long the step waits for data."""

    def __init__(self, it) -> None:
        self.it, self.wait = it, 0.0

    def __next__(self):
        t0 = time.perf_counter()
        try:
            batch = next(self.it)
        except ImgenError as exc:
            raise worker_error(exc) from None
        self.wait += time.perf_counter() - t0
        return batch


def worker_error(exc: ImgenError) -> ImgenError:
    """An imgen error raised in a DataLoader worker, as its own sentence again.

    The loader re-raises a worker's exception with the worker's whole traceback as its
    message ("Caught DataError in DataLoader worker process 0. Original Traceback ...");
    its last line holds the sentence.
    """
    text = str(exc)
    if "\nOriginal Traceback" not in text:
        return exc
    last = text.rstrip().splitlines()[-1]
    prefix = f"{type(exc).__module__}.{type(exc).__qualname__}: "
    return type(exc)(last.removeprefix(prefix))


class Interrupted(KeyboardInterrupt):
    """Training stopped by a signal after saving; ``signum`` is the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# SIGTERM is what kill, Docker, Kubernetes and SLURM send first; SLURM's --signal often USR1.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1") if hasattr(signal, name)
)


class _DeferredInterrupt:
    """Turns the first SIGINT/SIGTERM/SIGUSR1 into a request to stop after the current step.

    A KeyboardInterrupt in the middle of a step would leave half-updated networks and
    optimizers; the run instead finishes the step, saves and exits. A second Ctrl-C aborts
    at once, without saving.
    """

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say, self.requested, self.signum = say, False, signal.SIGINT
        self._previous: dict[int, Any] = {}
        self._pipe: tuple[int, int] | None = None
        self._previous_fd = -1

    def _arrivals(self, signum: int) -> int:
        """How many ``signum`` arrived since the last look. Python runs a handler once for
        signals that come while a long native op (a convolution) holds the main thread, so
        two Ctrl-Cs 50 ms apart reach it as one; the wakeup fd gets a byte for each."""
        if self._pipe is None:
            return 1
        try:
            data = os.read(self._pipe[0], 4096)
        except (BlockingIOError, OSError):
            data = b""
        return max(1, data.count(signum))

    def _handle(self, signum: int, frame: Any) -> None:
        arrivals = self._arrivals(signum)
        if self.requested or (arrivals > 1 and signum == signal.SIGINT):
            if signum == signal.SIGINT:
                self.requested = True
                self.say("SIGINT again: aborting without saving")
                raise KeyboardInterrupt
            return  # a repeated SIGTERM: the save is already on its way
        self.requested, self.signum = True, signum
        name = signal.Signals(signum).name
        again = " (Ctrl-C again to abort)" if signum == signal.SIGINT else ""
        self.say(f"{name}: stopping after this step to save a checkpoint{again}")

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            pipe = os.pipe()
            for fd in pipe:
                os.set_blocking(fd, False)
            self._previous_fd = signal.set_wakeup_fd(pipe[1], warn_on_full_buffer=False)
            self._pipe = pipe
        except (OSError, ValueError):  # no pipes, or a wakeup fd that is not ours to take
            self._pipe = None
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
        if self._pipe is not None:
            signal.set_wakeup_fd(self._previous_fd)
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None
