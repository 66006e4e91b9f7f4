"""The Task contract: what a plugin implements to add a task.

The engine owns the loop (precision, optimizers, EMA, checkpoints, logging); a task says how
to build its networks, read its data, compute its outputs and its losses. A task instance is
created per run; :meth:`Task.setup` stores the run's config on it as ``self.cfg``.

A task may import torch at module level, but register it lazily
(``register("pkg.task:MyTask", name="mytask")``) so that ``imgen tasks`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from imgen.config import TrainConfig

if TYPE_CHECKING:
    import torch
    from torch import nn

Nets = dict[str, "nn.Module"]
Batch = dict[str, Any]
Logs = dict[str, float]


class Task:
    """Base class of every task (built-in or from a plugin).

    Class attributes:
        name: the task's CLI name (``imgen train NAME``).
        help: one line for ``imgen tasks``.
        Config: dataclass of options, a subclass of :class:`imgen.config.TrainConfig`.
        examples: command lines shown in ``imgen train NAME --help``.
        metrics: names reported by ``imgen eval``.
        d_first: update the discriminator(s) before the generator(s) (pix2pix) or after
            (CycleGAN). Ignored when the task has no discriminator.
        generator_prefix / discriminator_prefix: networks whose names start with these are
            optimized together as the "G" and "D" groups; EMA copies are kept of the "G" group.
        takes_image: False for generation tasks (dcgan) that make images from noise: ``imgen
            predict`` calls :meth:`generate` instead of :meth:`predict`, and the trainer's
            sample grids call ``forward(nets, {})`` (no data batch) and ``sample_columns``.
    """

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    examples: ClassVar[list[str]] = []
    Config: ClassVar[type[TrainConfig]] = TrainConfig
    metrics: ClassVar[list[str]] = []
    d_first: ClassVar[bool] = True
    generator_prefix: ClassVar[str] = "G"
    discriminator_prefix: ClassVar[str] = "D"
    takes_image: ClassVar[bool] = True

    cfg: Any = None
    device: Any = None

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self, cfg: Any, device: torch.device, *, train: bool = False) -> None:
        """Store the run's config and device; with ``train``, build loss modules here.

        Raise :class:`imgen.errors.UsageError` for options that do not fit together.
        """
        self.cfg = cfg
        self.device = device

    def build(self, cfg: Any) -> Nets:
        """The networks, e.g. ``{"G": ..., "D": ...}`` or ``{"G_AB", "G_BA", "D_A", "D_B"}``."""
        raise NotImplementedError

    def groups(self, nets: Nets) -> dict[str, list[str]]:
        """Which networks each optimizer updates; an empty "D" group means no D update."""
        return {
            "G": [k for k in nets if k.startswith(self.generator_prefix)],
            "D": [k for k in nets if k.startswith(self.discriminator_prefix)],
        }

    def lr_decay_start(self, cfg: Any) -> int:
        """Step at which ``--lr-schedule linear`` starts decaying (CycleGAN: half the run)."""
        return 0

    def d_steps(self) -> int:
        """Discriminator updates per generator update (WGAN-GP uses 5): ``--n-critic``."""
        n = getattr(self.cfg, "n_critic", 1)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            from imgen.errors import UsageError

            raise UsageError(f"--n-critic must be at least 1, got {n}")
        return n

    # -- data --------------------------------------------------------------------------------
    def dataset(self, cfg: Any, root: str | None, split: str) -> torch.utils.data.Dataset:
        """A dataset over ``root`` whose items are dicts of tensors.

        For ``split="train"`` items are requested as ``(index, seed)``; the seed fixes every
        random choice (crop, flip, noise), which makes ``--resume`` exact.
        """
        raise NotImplementedError

    def prepare(self, batch: Batch) -> Batch:
        """Move a collated batch to ``self.device`` and derive inputs there (batched)."""
        import torch

        return {
            k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()
        }

    # -- math --------------------------------------------------------------------------------
    def forward(self, nets: Nets, batch: Batch) -> dict[str, torch.Tensor]:
        """Generator outputs for a batch."""
        raise NotImplementedError

    def d_loss(self, nets: Nets, batch: Batch, out: dict) -> tuple[torch.Tensor, Logs]:
        """Discriminator objective (detach the generator outputs)."""
        raise NotImplementedError

    def g_loss(self, nets: Nets, batch: Batch, out: dict) -> tuple[torch.Tensor, Logs]:
        """Generator objective (pixel + adversarial + ...)."""
        raise NotImplementedError

    # -- outputs -----------------------------------------------------------------------------
    def predict(self, nets: Nets, image: torch.Tensor, **options: Any) -> torch.Tensor:
        """Inference on one (1, 3, H, W) image in [0, 1]; returns an image in [0, 1]."""
        raise NotImplementedError

    def generate(
        self, nets: Nets, n: int, *, seed: int = 0, label: str | None = None
    ) -> torch.Tensor:
        """``n`` new images, shape (n, C, H, W) in [0, 1] (tasks with ``takes_image = False``).

        The same ``seed`` gives the same images; ``label`` names a class of a conditional run.
        Raise :class:`imgen.errors.UsageError` for an unknown label (listing the known ones).
        """
        raise NotImplementedError

    def sample_columns(self, batch: Batch, out: dict) -> list[torch.Tensor]:
        """Images shown side by side in the sample grids (e.g. input | output | target)."""
        raise NotImplementedError

    def evaluate(self, nets: Nets, root: str, **options: Any) -> dict[str, Any]:
        """Metrics on a folder: ``{"metrics": {...}, "images": N, ...}``.

        Options: ``tile``/``tile_overlap``; ``full=True`` from ``imgen eval`` (evaluations
        during training leave it out, so a task may skip costly extras there).
        """
        raise NotImplementedError
