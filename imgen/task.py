"""The Task contract: what a plugin implements to add a task.

The engine owns the loop (precision, optimizers, EMA, checkpoints, logging); a task says how
to build its networks, read its data, compute its outputs and its losses. A task instance is
created per run; :meth:`Task.setup` stores the run's config on it as ``self.cfg``.

Everything the engine, the CLI, ``imgen bench`` and the evaluation may use is declared on
:class:`Task` below, with its default, so a task overrides only what differs. Most tasks
extend :class:`GANTask` (generators trained against discriminators through the core's
objectives) or :class:`PairedGANTask` (input -> output, judged against a target), which
implement the losses, tiled prediction, the default data and the evaluation.

A task may import torch at module level, but register it lazily
(``register("pkg.task:MyTask", name="mytask")``) so that ``imgen tasks`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from imgen.config import TrainConfig

if TYPE_CHECKING:
    import torch
    from torch import nn

    from imgen.metrics.scoring import ImageScores

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
        eval_examples: command lines shown in ``imgen eval NAME --help``.
        metrics: names reported by ``imgen eval`` (registered metrics where the task scores
            image pairs; ``imgen eval --metric NAME`` adds more).
        bench_variants: the models ``imgen bench`` measures, plain data:
            ``[{"name": "small", "options": {"generator": "small"}, "cpu": {"crop": 64}}]``
            (``options`` are config fields of every row; ``cpu``/``cuda`` add fields for one
            device type).
        prepared_data: None when :meth:`dataset` reads image folders only; when it also reads
            folders made by ``imgen prepare`` (:func:`imgen.data.training_images`), what
            ``imgen bench --sections data`` measures: ``{"prepare": {"scale": 4}, "configs":
            {"bicubic": {"degradation": "bicubic"}}}`` (options of ``prepare_folder``; config
            fields of each compared row), and optionally ``"demand"``: the GPU configuration
            whose loader workers are estimated (:mod:`imgen.bench.demand`: ``{"variant":
            "rrdbnet", "batch_size": 16, "crop": 128, "phases": {"pixel": {...}}}``).
        d_first: update the discriminator(s) before the generator(s) (pix2pix) or after
            (CycleGAN). Ignored when the task has no discriminator.
        generator_prefix / discriminator_prefix: networks whose names start with these are
            optimized together as the "G" and "D" groups; EMA copies are kept of the "G" group.
        takes_image: False for generation tasks (dcgan) that make images from noise: ``imgen
            predict`` calls :meth:`generate` instead of :meth:`predict`, and the trainer's
            sample grids call ``forward(nets, {})`` (no data batch) and ``sample_columns``.

    Instance attributes (set by :meth:`setup`):
        cfg: the run's config; device: the torch device; training: whether the task was set
        up for training (build the discriminators and the losses) or for inference.
    """

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    examples: ClassVar[list[str]] = []
    eval_examples: ClassVar[list[str]] = []
    Config: ClassVar[type[TrainConfig]] = TrainConfig
    metrics: ClassVar[list[str]] = []
    bench_variants: ClassVar[list[dict[str, Any]]] = [{"name": "default"}]
    prepared_data: ClassVar[dict[str, Any] | None] = None
    d_first: ClassVar[bool] = True
    generator_prefix: ClassVar[str] = "G"
    discriminator_prefix: ClassVar[str] = "D"
    takes_image: ClassVar[bool] = True

    cfg: Any = None
    device: Any = None
    training: bool = False

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self, cfg: Any, device: torch.device, *, train: bool = False) -> None:
        """Store the run's config, device and mode; subclasses build their losses here.

        Raise :class:`imgen.errors.UsageError` for options that do not fit together.
        """
        self.cfg = cfg
        self.device = device
        self.training = train

    def build(self, cfg: Any) -> Nets:
        """The networks, e.g. ``{"G": ..., "D": ...}`` or ``{"G_AB", "G_BA", "D_A", "D_B"}``.

        With ``self.training`` False (evaluation, prediction) build only what inference needs.
        A task with a pixel-loss phase (:meth:`pretrain_steps`) builds the networks of step 0
        here and those the GAN phase adds in :meth:`gan_networks`.
        """
        raise NotImplementedError

    def pretrain_steps(self, cfg: Any) -> int:
        """Steps the generator trains alone before :meth:`gan_networks` join (0: none)."""
        return 0

    def gan_networks(self, cfg: Any) -> Nets:
        """The networks the GAN phase adds after :meth:`pretrain_steps` (the engine builds
        them at the switch, from their own seed)."""
        return {}

    def model_scope(self) -> tuple[str, ...]:
        """The task names whose registered models this task builds (``register(...,
        tasks=[...])``): its own and those of the tasks it extends, so that a plugin's
        ``class TinySR(SuperResolution)`` takes sr's generators."""
        return tuple(dict.fromkeys(c.name for c in type(self).__mro__ if getattr(c, "name", "")))

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
        """Discriminator updates per generator update (WGAN-GP uses 5)."""
        return 1

    def spectral_norm(self) -> bool:
        """Whether the engine puts spectral norm on every discriminator layer (SNGAN)."""
        return False

    def state_dict(self) -> dict[str, Any] | None:
        """Training state of the task itself (e.g. style's image pools), saved with every
        checkpoint and given back to :meth:`load_state_dict` on ``--resume``; None: none."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

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
        """Inference on one (1, 3, H, W) image in [0, 1]; returns an image in [0, 1].

        Options from ``imgen predict``: ``tile``, ``tile_overlap``, ``out_dtype``
        (``torch.uint8``: the caller wants 0..255 levels and a task may return them, which
        lets :meth:`GANTask.run_tiled` bound the memory of a large image), ``autocast_dtype``
        (``--precision``: run the networks, and only them, under autocast to it), plus the
        options the task's config marks for prediction (``--direction``). Ignore the ones
        that do not apply.
        """
        raise NotImplementedError

    def output_scale(self) -> int:
        """Output pixels per input pixel of ``predict`` (SR: ``--scale``); read after setup."""
        return 1

    def export_network(self, nets: Nets, **options: Any) -> nn.Module:
        """The network ``imgen export`` writes: one module from a (B, C, H, W) image in [0, 1]
        to what :meth:`predict` returns, in [0, 1] (options: the task's prediction options,
        e.g. ``direction``). Sides are padded to the network's ``required_multiple`` outside
        it, by the runtime's caller. Raise :class:`imgen.errors.UsageError` when the task has
        no such network."""
        from imgen.errors import UsageError

        raise UsageError(f"task {self.name!r} has no network imgen export can write")

    def generate(
        self, nets: Nets, n: int, *, seed: int = 0, label: str | None = None
    ) -> torch.Tensor:
        """``n`` new images, shape (n, C, H, W) in [0, 1] (tasks with ``takes_image = False``).

        The same ``seed`` gives the same images; ``label`` names a class of a conditional run.
        Raise :class:`imgen.errors.UsageError` for an unknown label (listing the known ones).
        """
        raise NotImplementedError

    def generated_labels(self, n: int, label: str | None = None) -> list[str]:
        """The class name of each of the ``n`` images ``generate(nets, n, label=label)``
        draws (``imgen predict --separate`` puts it in the file names); [] when the run has
        no classes."""
        return []

    def sample_columns(self, batch: Batch, out: dict) -> list[torch.Tensor]:
        """Images shown side by side in the sample grids (e.g. input | output | target)."""
        raise NotImplementedError

    def sample_labels(self, batch: Batch, out: dict) -> list[str]:
        """The name of each column of :meth:`sample_columns`, written above it in the sample
        grids (short: a column may be 32 pixels wide); [] writes none (the default)."""
        return []

    def evaluate(
        self, nets: Nets, root: str | None, *, metrics: Sequence[str] = (), **options: Any
    ) -> dict[str, Any]:
        """Metrics on a folder: ``{"metrics": {...}, "images": N, "notes": [...], ...}``.

        ``metrics`` names registered metrics to compute besides :attr:`metrics` (``imgen eval
        --metric``). Options: ``tile``/``tile_overlap``, ``autocast_dtype`` (as for
        :meth:`predict`); ``full=True`` from ``imgen eval``
        (evaluations during training leave it out, so a task may skip costly extras there).
        """
        raise NotImplementedError


class GANTask(Task):
    """A task whose generators learn against discriminators through the core's objectives.

    Its ``Config`` extends :class:`imgen.config.GANConfig` (``--gan-loss --spectral-norm
    --gp-weight --r1-weight --n-critic --discriminator``). It gives every such task:

    - ``--n-critic`` and ``--spectral-norm`` for the engine (:meth:`d_steps`,
      :meth:`spectral_norm`), and the adversarial loss from the loss registry
      (``self.adversarial``: the ``"gan"`` loss, an :class:`imgen.losses.GANLoss`);
    - :meth:`data_root`: scikit-image's sample photos when ``--data`` is omitted
      (``default_data = True``), else a sentence saying what ``--data`` must hold
      (``data_help``);
    - :meth:`build_discriminator`: the ``--discriminator`` model from the registry;
    - :meth:`run_tiled`: any-size, optionally tiled inference, padded to the network's
      ``required_multiple`` and cropped back;
    - :meth:`scores`: per-image registered metrics (the task's and ``imgen eval --metric``),
      with unavailable ones (LPIPS without its weights) reported once, in a note.
    """

    default_data: ClassVar[bool] = False
    data_help: ClassVar[str] = ""

    adversarial: Any = None

    def setup(self, cfg: Any, device: torch.device, *, train: bool = False) -> None:
        super().setup(cfg, device, train=train)
        from imgen.plugins import create_loss

        self.adversarial = create_loss(
            "gan", kind=cfg.gan_loss, gp_weight=cfg.gp_weight, r1_weight=cfg.r1_weight
        )

    def d_steps(self) -> int:
        return self.cfg.n_critic

    def spectral_norm(self) -> bool:
        return self.cfg.spectral_norm

    def data_root(self, root: str | None) -> str:
        """``root``, or the built-in photos when the task has them (said on stderr)."""
        if root is not None:
            return root
        if not self.default_data:
            from imgen.errors import DataError

            raise DataError(self.data_help or f"imgen train {self.name} needs --data DIR")
        import sys

        from imgen.data.samples import sample_folder

        folder = str(sample_folder())
        print(
            f"imgen: no --data given: training on scikit-image's sample photos in {folder}",
            file=sys.stderr,
        )
        return folder

    def build_discriminator(self, in_channels: int = 3) -> nn.Module:
        """The ``--discriminator`` model for images of ``in_channels`` channels, with the
        options of :meth:`imgen.config.GANConfig.discriminator_options` it accepts."""
        from imgen.plugins import create_model

        offered = {"in_channels": in_channels, **self.cfg.discriminator_options()}
        return create_model(
            self.cfg.discriminator, "discriminator", offered=offered, task=self.model_scope()
        )

    def run_tiled(
        self,
        net: nn.Module,
        image: torch.Tensor,
        *,
        apply: Any = None,
        scale: int = 1,
        tile: int | None = None,
        tile_overlap: int = 32,
        out_dtype: torch.dtype | None = None,
        autocast_dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """``apply(x)`` (default ``net(x)``) on an image of any size, clamped to [0, 1].

        The image is padded to ``net``'s :func:`imgen.nn.required_multiple` and the output
        cropped back (never resized); ``tile`` processes it in tiles of that many pixels, and
        a device that runs out of memory retries in smaller tiles (said on stderr).
        ``out_dtype=torch.uint8`` returns 0..255 levels, blended tile by tile straight into
        them, which bounds the memory of a tiled large image by the uint8 output.
        ``autocast_dtype`` runs the network (not the blending) under autocast to it.
        """
        import sys

        import torch

        fn = apply or net
        if autocast_dtype is not None:
            run = fn

            def fn(x: torch.Tensor) -> torch.Tensor:
                with torch.autocast(x.device.type, dtype=autocast_dtype):
                    return run(x).float()

        from imgen.config import check_tiling
        from imgen.inference import predict_fitting
        from imgen.nn.contract import required_multiple

        check_tiling(tile, tile_overlap)  # imgen predict's --tile: a sentence, not a ValueError
        if tile is None:
            tile = self._auto_tile(net, fn, image, scale, tile_overlap, out_dtype)
        elif tile == 0:  # --tile 0: never tile (a GPU out of memory still retries in tiles)
            tile = None
        out = predict_fitting(
            fn,
            image,
            say=lambda message: print(f"imgen: {message}", file=sys.stderr),
            scale=scale,
            tile=tile,
            overlap=tile_overlap,
            multiple=required_multiple(net),
            out_dtype=out_dtype,
        )
        if out_dtype is not None and not out_dtype.is_floating_point:
            return out  # already clamped to the integer levels
        return out.clamp(0, 1)

    @staticmethod
    def _auto_tile(
        net: nn.Module,
        fn: Any,
        image: torch.Tensor,
        scale: int,
        overlap: int,
        out_dtype: torch.dtype | None,
    ) -> int | None:
        """The tile for ``image`` when its whole-image activations would not fit in memory
        (:func:`imgen.inference.auto_tile`), said on stderr; None: predict it whole."""
        import sys

        import torch

        from imgen.engine.device import available_memory
        from imgen.inference import activation_bytes, auto_tile
        from imgen.nn.contract import required_multiple

        height, width = image.shape[-2:]
        pixels = image[..., :1, :, :].numel()  # batch x height x width
        if pixels <= 256 * 256:  # small images: no probe (tests, training samples)
            return None
        multiple = required_multiple(net)
        per_pixel = activation_bytes(net, fn, image.shape[-3], image.device, multiple)
        per_pixel *= pixels / (height * width)  # a batch's images are in memory together
        out_size = torch.empty((), dtype=out_dtype or torch.float32).element_size()
        fixed = pixels * image.shape[-3] * (scale * scale * out_size + image.element_size())
        tile = auto_tile(
            height,
            width,
            per_pixel,
            available_memory(image.device),
            fixed=fixed,
            overlap=overlap,
            multiple=multiple,
        )
        if tile is not None:
            need = height * width * per_pixel / 1024**3
            print(
                f"imgen: {width}x{height} would need about {need:.1f} GB of activations whole; "
                f"predicting in tiles of {tile} (--tile 0: never tile)",
                file=sys.stderr,
            )
        return tile

    def scores(
        self, names: Sequence[str], *, crop_border: int = 0, suffix: str = ""
    ) -> ImageScores:
        """A table of the registered metrics ``names`` over image pairs (see
        :class:`imgen.metrics.scoring.ImageScores`)."""
        from imgen.metrics.scoring import ImageScores

        return ImageScores(names, crop_border=crop_border, suffix=suffix)


class PairedGANTask(GANTask):
    """One generator maps an input to an output judged against a target (SR, pix2pix, ...).

    A paired task is its networks, its data and its pixel loss: it sets the batch keys and
    implements :meth:`build_generator`, :meth:`dataset`, :meth:`prepare` and either
    :meth:`degrade` (the input is made from each evaluation image) or :meth:`eval_pairs`.
    The rest is here:

    - ``forward``: ``{output_key: G(batch[input_key])}``, with ``signed = True`` mapping
      images to [-1, 1] for the networks (the pix2pix family's tanh);
    - ``d_loss``: the ``--gan-loss`` objective with its penalties, the discriminator seeing
      the image alone or, with ``conditional_d``, the input and the image concatenated
      (pix2pix); weighted by ``d_weight`` (pix2pix halves it);
    - ``g_loss``: ``--pixel-weight`` x the ``--pixel-loss`` (from the loss registry) +
      :meth:`extra_losses` + ``--gan-weight`` x the adversarial loss;
    - ``build``: G, plus D (:meth:`gan_networks`) when training with ``--gan-weight`` > 0,
      at step 0 or, with ``--pretrain-steps N``, after N steps of the pixel loss alone;
    - ``predict``: :meth:`predict_input` then G on any size, tiled with ``--tile``;
    - ``sample_columns`` / ``sample_labels``: input | output | target;
    - ``evaluate``: the task's :attr:`metrics` and ``--metric`` ones over
      :meth:`eval_pairs`, per image and averaged; with ``reference_suffix``, also the input
      against the target (denoise: ``psnr_noisy``).

    The config needs ``pixel_loss``, ``pixel_weight`` and ``gan_weight``
    (:class:`imgen.config.PairedGANConfig` has them).
    """

    input_key: ClassVar[str] = "input"
    output_key: ClassVar[str] = "output"
    target_key: ClassVar[str] = "target"
    signed: ClassVar[bool] = False
    conditional_d: ClassVar[bool] = False
    d_weight: ClassVar[float] = 1.0
    reference_suffix: ClassVar[str | None] = None

    pixel: Any = None

    # -- set-up --------------------------------------------------------------------------
    def setup(self, cfg: Any, device: torch.device, *, train: bool = False) -> None:
        super().setup(cfg, device, train=train)
        from imgen.plugins import create_loss

        if train:
            self.pixel = create_loss(cfg.pixel_loss).to(device)

    def build_generator(self, cfg: Any) -> nn.Module:
        """The generator (``create_model(cfg.generator, "generator", ...)``)."""
        raise NotImplementedError

    def build(self, cfg: Any) -> Nets:
        nets = {"G": self.build_generator(cfg)}
        if not self.pretrain_steps(cfg):  # else D comes at the end of the pixel-loss phase
            nets.update(self.gan_networks(cfg))
        return nets

    def pretrain_steps(self, cfg: Any) -> int:
        if not (self.training and hasattr(cfg, "resolved_pretrain_steps")):
            return 0  # a config of its own, from before PairedGANConfig had the phase
        return cfg.resolved_pretrain_steps()

    def gan_networks(self, cfg: Any) -> Nets:
        if not (self.training and cfg.gan_weight > 0):  # evaluation and prediction: G only
            return {}
        return {"D": self.build_discriminator(6 if self.conditional_d else 3)}

    # -- math ----------------------------------------------------------------------------
    def generator_output(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The generator on images in [0, 1], output in [0, 1] (``signed``: the network sees
        and makes [-1, 1])."""
        if not self.signed:
            return net(x)
        from imgen.nn.scaling import from_net, to_net

        return from_net(net(to_net(x)))

    def forward(self, nets: Nets, batch: Batch) -> dict:
        return {self.output_key: self.generator_output(nets["G"], batch[self.input_key])}

    def critic(self, nets: Nets, batch: Batch) -> Any:
        """The discriminator as a function of an image in [0, 1]."""
        D, condition = nets["D"], batch[self.input_key]
        if not self.signed and not self.conditional_d:
            return D
        import torch

        from imgen.nn.scaling import to_net

        def scale(x: torch.Tensor) -> torch.Tensor:
            return to_net(x) if self.signed else x

        if self.conditional_d:
            return lambda image: D(scale(torch.cat([condition, image], dim=1)))
        return lambda image: D(scale(image))

    def real_images(self, batch: Batch) -> torch.Tensor:
        """The discriminator's real images (default: the target; SR's ``--usm-gt`` keeps
        them unsharpened while the pixel loss sees the sharpened target)."""
        return batch[self.target_key]

    def d_loss(self, nets: Nets, batch: Batch, out: dict) -> tuple[torch.Tensor, Logs]:
        loss, logs = self.adversarial.discriminator(
            self.critic(nets, batch),
            self.real_images(batch),
            out[self.output_key],
            seeds=batch.get("sample_seed"),
        )
        loss = self.d_weight * loss  # penalties included: their ratio to the loss stays
        return loss, {"d_loss": loss, **logs}

    def extra_losses(self, nets: Nets, batch: Batch, out: dict) -> dict[str, tuple[float, Any]]:
        """More generator terms, ``{log name: (weight, loss)}`` (SR: the perceptual loss)."""
        return {}

    def g_loss(self, nets: Nets, batch: Batch, out: dict) -> tuple[torch.Tensor, Logs]:
        cfg, output, target = self.cfg, out[self.output_key], batch[self.target_key]
        pixel = self.pixel(output.float(), target)
        loss, logs = cfg.pixel_weight * pixel, {"pixel": pixel}
        if "D" not in nets:
            return loss, logs
        for name, (weight, value) in self.extra_losses(nets, batch, out).items():
            loss = loss + weight * value
            logs[name] = value
        gan = self.adversarial.generator(self.critic(nets, batch), output, self.real_images(batch))
        return loss + cfg.gan_weight * gan, {**logs, "gan": gan}

    # -- outputs -------------------------------------------------------------------------
    def predict_input(self, image: torch.Tensor) -> torch.Tensor:
        """What G is applied to for ``imgen predict image`` (default: the image itself)."""
        return image

    def apply(
        self,
        nets: Nets,
        x: torch.Tensor,
        *,
        tile: int | None = None,
        tile_overlap: int = 32,
        out_dtype: torch.dtype | None = None,
        autocast_dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """G on one (1, C, H, W) input of any size, in [0, 1] (see :meth:`run_tiled`)."""
        G = nets["G"]
        return self.run_tiled(
            G,
            x,
            apply=lambda t: self.generator_output(G, t),
            scale=self.output_scale(),
            tile=tile,
            tile_overlap=tile_overlap,
            out_dtype=out_dtype,
            autocast_dtype=autocast_dtype,
        )

    def predict(
        self,
        nets: Nets,
        image: torch.Tensor,
        *,
        tile: int | None = None,
        tile_overlap: int = 32,
        out_dtype: torch.dtype | None = None,
        autocast_dtype: torch.dtype | None = None,
        **_: Any,
    ) -> torch.Tensor:
        x = self.predict_input(image)
        return self.apply(
            nets,
            x,
            tile=tile,
            tile_overlap=tile_overlap,
            out_dtype=out_dtype,
            autocast_dtype=autocast_dtype,
        )

    def export_network(self, nets: Nets, **_: Any) -> nn.Module:
        from imgen.nn.image_function import ImageFunction

        return ImageFunction(nets["G"], signed=self.signed)

    def sample_columns(self, batch: Batch, out: dict) -> list[torch.Tensor]:
        return [batch[self.input_key], out[self.output_key].clamp(0, 1), batch[self.target_key]]

    def sample_labels(self, batch: Batch, out: dict) -> list[str]:
        return ["input", "output", "target"]

    # -- evaluation ----------------------------------------------------------------------
    def degrade(self, target: torch.Tensor, index: int) -> torch.Tensor:
        """The input made from the ``index``-th evaluation image (deterministic per index)."""
        raise NotImplementedError(
            f"task {self.name!r} must implement degrade() or eval_pairs() to be evaluated"
        )

    def eval_pairs(self, root: str) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        """``(name, input, target)`` of each evaluation image, on ``self.device``: by default
        every image of the folder as the target, and :meth:`degrade` of it as the input.

        ``name`` is the image's path relative to ``root`` (:func:`imgen.data.image_key`), so
        that two ``a.png`` in different subfolders are two images. Read the files with
        :func:`imgen.data.read_or_skip`: under ``imgen eval`` an unreadable file is then
        skipped, and listed at the end, instead of ending the evaluation.
        """
        from pathlib import Path

        from imgen.data import image_key, read_image_tensor, read_or_skip, scan_images

        for index, path in enumerate(scan_images(Path(root))):
            target = read_or_skip(path, read_image_tensor)
            if target is None:
                continue
            target = target[None].to(self.device)
            yield image_key(path, root), self.degrade(target, index), target

    def crop_border(self) -> int:
        """Pixels of border left out of the scores (SR: ``--scale``, BasicSR's protocol)."""
        return 0

    def evaluate(
        self,
        nets: Nets,
        root: str | None,
        *,
        metrics: Sequence[str] = (),
        tile: int | None = None,
        tile_overlap: int = 32,
        autocast_dtype: torch.dtype | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        names = list(dict.fromkeys([*self.metrics, *metrics]))
        scores = self.scores(names, crop_border=self.crop_border())
        reference = None
        if self.reference_suffix:
            reference = self.scores(
                names, crop_border=self.crop_border(), suffix=self.reference_suffix
            )
        for name, x, target in self.eval_pairs(root):
            output = self.apply(
                nets, x, tile=tile, tile_overlap=tile_overlap, autocast_dtype=autocast_dtype
            )
            scores.add(name, output, target)
            if reference is not None:
                scores.merge(name, reference.score(x.clamp(0, 1), target))
        return scores.summary()
