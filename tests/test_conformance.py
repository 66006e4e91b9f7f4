"""Every registered task and model through the conformance kit, imgen.testing (timm-style:
parametrized over the registries, so a new built-in is checked the day it is registered).

The tables give each one tiny options (a few features, 32-pixel crops) so that a task's whole
check (config, data, one training step, checkpoint, predict, evaluate) takes seconds. A task
or model missing from its table is checked with its defaults, on 32-pixel images; add a row
when that is too slow or does not fit (e.g. a generator that takes a noise vector).

The kit's own failure modes (each check catching what it should) are tested at the end.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from imgen.config import TrainConfig, option
from imgen.plugins import registries
from imgen.task import Task
from imgen.testing import (
    ConformanceError,
    check_config,
    check_model,
    check_task,
    tiny_image_folder,
)

# -- the tables ---------------------------------------------------------------------------------
TASKS: dict[str, dict[str, Any]] = {
    # PSNR-oriented: the GAN path of sr (a 14.5M-parameter VGG critic) is tested in test_sr_task
    "sr": {
        "config": {
            "scale": 2,
            "crop": 32,
            "num_feat": 8,
            "num_block": 1,
            "gan_weight": 0.0,
            "perceptual_weight": 0.0,
        },
        "keys": {"lr", "hr"},
    },
    "translate": {
        "config": {"condition": "edges", "crop": 32, "depth": 5, "ngf": 8, "ndf": 8},
        "keys": {"A", "B"},
    },
    "style": {
        "data": "domains",
        "config": {"crop": 32, "blocks": 1, "ngf": 8, "ndf": 8, "pool_size": 2},
        "keys": {"A", "B"},
        # `imgen eval style` trains a realism classifier for 300 steps: too slow here
        "full_eval": False,
    },
    "dcgan": {
        "config": {"image_size": 32, "z_dim": 8, "ngf": 8, "ndf": 8},
        "keys": {"image", "z"},
        "ranges": {"z": (float("-inf"), float("inf"))},  # N(0, 1) noise, not an image
        "full_eval": False,  # FID/KID need Inception weights
    },
}

MODELS: dict[tuple[str, str], dict[str, Any]] = {
    ("generator", "srresnet"): {
        "kwargs": {"num_feat": 8, "num_block": 1, "upscale": 2},
        "input_shape": (2, 3, 12, 10),
        "output_shape": (2, 3, 24, 20),
    },
    ("generator", "rrdbnet"): {
        "kwargs": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2},
        "input_shape": (2, 3, 12, 10),
        "output_shape": (2, 3, 24, 20),
    },
    ("generator", "compact"): {
        "kwargs": {"num_feat": 8, "num_conv": 2, "upscale": 2},
        "input_shape": (2, 3, 12, 10),
        "output_shape": (2, 3, 24, 20),
    },
    # spandrel's architectures, each in a tiny configuration of its own hyperparameters
    ("generator", "swinir"): {
        "kwargs": {"scale": 2, "embed_dim": 12, "depths": [1], "num_heads": [2], "window_size": 4},
        "input_shape": (2, 3, 16, 12),
        "output_shape": (2, 3, 32, 24),
    },
    ("generator", "hat"): {
        "kwargs": {
            "scale": 2,
            "embed_dim": 12,
            "depths": [1],
            "num_heads": [2],
            "window_size": 4,
            "compress_ratio": 2,
            "squeeze_factor": 2,
            "num_feat": 8,
        },
        "input_shape": (2, 3, 16, 12),
        "output_shape": (2, 3, 32, 24),
        # At this size the channel attention squeezes to 3 channels behind a ReLU, which can
        # be dead for the test's seed.
        "zero_grad_ok": ["model.layers.*.conv_block.cab.3.attention.*"],
    },
    ("generator", "dat"): {
        "kwargs": {
            "scale": 2,
            "embed_dim": 32,  # its channel interaction has embed_dim // 16 channels
            "depth": [2],
            "num_heads": [2],
            "split_size": [2, 4],
        },
        "input_shape": (2, 3, 16, 12),
        "output_shape": (2, 3, 32, 24),
        # Third-party architecture: gradients must reach every parameter and be finite, but
        # at this size many are relatively tiny at init (the kit's "zero" test compares each
        # with the largest), e.g. the dynamic position bias of the first block.
        "zero_grad_ok": ["model.*"],
    },
    ("generator", "span"): {
        "kwargs": {"scale": 2, "feature_channels": 8},
        "input_shape": (2, 3, 16, 12),
        "output_shape": (2, 3, 32, 24),
        # SPAN scales its input by 255 (img_range), so its gradients span orders of magnitude
        # and the kit's relative "zero" test does not apply; None and NaN are still checked.
        "zero_grad_ok": ["model.*"],
    },
    ("generator", "omnisr"): {
        "kwargs": {"scale": 2, "num_feat": 8, "res_num": 1},
        "input_shape": (2, 3, 16, 12),
        "output_shape": (2, 3, 32, 24),
    },
    ("generator", "spandrel"): {
        "kwargs": {
            "arch": "SPAN",
            "hyperparameters": {
                "num_in_ch": 3,
                "num_out_ch": 3,
                "upscale": 2,
                "feature_channels": 8,
            },
        },
        "input_shape": (2, 3, 16, 12),
        "output_shape": (2, 3, 32, 24),
        "zero_grad_ok": ["model.*"],  # SPAN, as above
    },
    ("generator", "bicubic"): {
        "kwargs": {"upscale": 2},
        "input_shape": (2, 3, 12, 10),
        "output_shape": (2, 3, 24, 20),
    },
    ("generator", "resnet"): {
        "kwargs": {"ngf": 8, "blocks": 1},
        "output_shape": (2, 3, 32, 32),
        # The reference keeps a bias in every conv followed by InstanceNorm (use_bias is True
        # for instance norm), for its state-dict layout and parameter count (11,378,179);
        # the norm subtracts it again, so its gradient is zero. Only the last conv's counts.
        "zero_grad_ok": [
            "model.1.bias",
            "model.4.bias",
            "model.7.bias",
            "model.11.bias",
            "model.14.bias",
            "model.10.conv_block.*.bias",
        ],
    },
    ("generator", "unet"): {
        "kwargs": {"ngf": 8, "depth": 5},
        "output_shape": (2, 3, 32, 32),
    },
    ("generator", "unet-timm"): {
        "kwargs": {"encoder": "resnet18", "decoder_channels": (16, 8, 8, 8, 8)},
        "output_shape": (2, 3, 32, 32),
        # timm's ResNets zero-initialize the last BN of every residual block (zero_init_last):
        # at initialization the branch before it gets no gradient (bn2 itself does).
        "zero_grad_ok": ["encoder.layer*.conv*", "encoder.layer*.bn1.*"],
    },
    ("generator", "dcgan"): {
        "kwargs": {"image_size": 32, "z_dim": 8, "ngf": 8},
        "example_input": torch.randn(2, 8, generator=torch.Generator().manual_seed(0)),
        "output_shape": (2, 3, 32, 32),
    },
    ("discriminator", "patchgan"): {"kwargs": {"ndf": 8}, "output_shape": (2, 1, 2, 2)},
    ("discriminator", "pixelgan"): {"kwargs": {"ndf": 8}, "output_shape": (2, 1, 32, 32)},
    ("discriminator", "vgg"): {"kwargs": {"num_feat": 8}, "output_shape": (2, 1)},
    ("discriminator", "unet"): {"kwargs": {"num_feat": 8}, "output_shape": (2, 1, 32, 32)},
    ("discriminator", "dcgan"): {"kwargs": {"image_size": 32, "ndf": 8}, "output_shape": (2,)},
}


def _task_names() -> list[str]:
    return registries().tasks.names()


def _model_ids() -> list[tuple[str, str]]:
    return [(role, name) for role in ("generator", "discriminator") for name in _models(role)]


def _models(role: str) -> list[str]:
    return registries().models(role).names()


# -- data ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """``images``: a folder of tiny images; ``domains``: trainA/trainB/testA/testB of them."""
    root = tmp_path_factory.mktemp("conformance")
    domains = root / "domains"
    for seed, split in enumerate(("trainA", "trainB", "testA", "testB")):
        tiny_image_folder(domains / split, count=3, size=(40, 48), seed=seed)
    return {"images": tiny_image_folder(root / "images"), "domains": domains}


# -- every registered task and model --------------------------------------------------------------
@pytest.mark.parametrize("name", _task_names())
def test_registered_task_conforms(name, folders, tmp_path):
    case = dict(TASKS.get(name, {"config": {"crop": 32}}))
    data = folders[case.pop("data", "images")]
    report = check_task(name, data=data, tmp_path=tmp_path, **case)

    assert report.task == name
    assert report.changed == [n for n, count in report.parameters.items() if count]
    assert report.run_dir is not None and (report.run_dir / "config.json").exists()
    assert set(case.get("keys", ())) <= set(report.batch)


@pytest.mark.parametrize(("role", "name"), _model_ids(), ids=[f"{r}-{n}" for r, n in _model_ids()])
def test_registered_model_conforms(role, name):
    case = MODELS.get((role, name), {"input_shape": (2, 3, 64, 64)})
    report = check_model(name, role=role, **case)
    if "output_shape" in case:
        assert report.output_shape == case["output_shape"]


def test_the_tables_name_only_registered_things():
    """A renamed or removed task/model must not leave a stale row behind."""
    assert set(TASKS) <= set(_task_names())
    assert set(MODELS) <= set(_model_ids())


# -- the kit catches what it should ---------------------------------------------------------------
@dataclasses.dataclass
class ToyConfig(TrainConfig):
    width: int = option(4, "Channels of the toy generator.")
    gain: float = option(0.5, "Output gain.")
    mode: str = option("plain", "A string option.")


class ToyTask(Task):
    """A complete, tiny task that passes the kit; the tests below break one piece at a time."""

    name = "toy"
    help = "a toy task"
    Config = ToyConfig
    metrics: ClassVar[list[str]] = ["l1"]

    def build(self, cfg):
        return {
            "G": nn.Sequential(nn.Conv2d(3, cfg.width, 3, padding=1), nn.Conv2d(cfg.width, 3, 1))
        }

    def dataset(self, cfg, root, split):
        from imgen.data import ImageFolderDataset

        return ImageFolderDataset(root, cfg.crop, augment=True)

    def prepare(self, batch):
        image = batch["image"].to(self.device).float() / 255
        return {"input": image.flip(-1), "target": image}

    def forward(self, nets, batch):
        return {"out": torch.sigmoid(nets["G"](batch["input"]))}

    def g_loss(self, nets, batch, out):
        loss = (out["out"] - batch["target"]).abs().mean()
        return loss, {"l1": loss}

    def predict(self, nets, image, **_):
        return torch.sigmoid(nets["G"](image))

    def sample_columns(self, batch, out):
        return [batch["input"], out["out"], batch["target"]]

    def evaluate(self, nets, root, **_):
        return {"metrics": {"l1": 0.1}, "images": 1}


def toy(**overrides: Any) -> type[Task]:
    """A subclass of ToyTask with methods or attributes replaced."""
    return type("BrokenToy", (ToyTask,), overrides)


@pytest.fixture
def check_toy(folders, tmp_path):
    def run(task: Any = ToyTask, **options: Any):
        options.setdefault("config", {"crop": 16})
        return check_task(task, data=folders["images"], tmp_path=tmp_path, **options)

    return run


def test_a_complete_task_passes_and_is_reported(check_toy):
    report = check_toy(keys={"input", "target"})
    assert report.config_fields[-3:] == ["width", "gain", "mode"]
    assert report.batch == {"input": (2, 3, 16, 16), "target": (2, 3, 16, 16)}
    assert report.parameters == {"G": 3 * 4 * 9 + 4 + 4 * 3 + 3}
    assert report.changed == ["G"]
    assert set(report.losses) == {"l1"}
    assert report.output_shape == (1, 3, 37, 45)
    assert report.metrics == {"l1": 0.1}
    assert (report.run_dir / "checkpoints" / "last.safetensors").exists()


class _Unstorable:
    pass


@pytest.mark.parametrize(
    ("config_cls", "message"),
    [
        (
            dataclasses.make_dataclass(
                "NoHelp", [("width", int, dataclasses.field(default=4))], bases=(ToyConfig,)
            ),
            "option 'width' has no help text",
        ),
        (
            dataclasses.make_dataclass(
                "Listy",
                [("sizes", list, dataclasses.field(default_factory=list, metadata={"help": "x"}))],
                bases=(ToyConfig,),
            ),
            "option 'sizes' is a list; options are bool, int, float, str",
        ),
    ],
    ids=["no-help", "unsupported-type"],
)
def test_config_problems_are_named(config_cls, message):
    with pytest.raises(ConformanceError, match=message):
        check_config(toy(Config=config_cls))


def test_config_values_are_validated_like_a_toml_file():
    with pytest.raises(ConformanceError, match="unknown option 'widht'; did you mean width"):
        check_config(ToyTask, {"widht": 3})


def test_config_round_trip_returns_the_config():
    cfg = check_config(ToyTask, {"gain": 1e-5, "mode": 'say "hi"', "channels_last": False})
    assert (cfg.gain, cfg.mode, cfg.channels_last) == (1e-5, 'say "hi"', False)


def test_a_config_whose_default_the_cli_mangles_is_caught():
    @dataclasses.dataclass
    class IntAsFloat(ToyConfig):
        gain: float = option(1, "An int default for a float option.")  # type: ignore[assignment]

    with pytest.raises(ConformanceError, match=r"option --gain comes back from .* as 1.0, not 1"):
        check_config(toy(Config=IntAsFloat))


def _random_crop_without_seed(self, cfg, root, split):
    base = ToyTask.dataset(self, cfg, root, split)

    class Unseeded(torch.utils.data.Dataset):
        def __len__(self):
            return len(base)

        def __getitem__(self, item):
            index = item[0] if isinstance(item, tuple) else item
            return base[(index, int(torch.randint(0, 1000, ())))]

    return Unseeded()


@pytest.mark.parametrize(
    ("overrides", "options", "message"),
    [
        (
            {"dataset": _random_crop_without_seed},
            {},
            r"dataset\[\(index, seed\)\] differs between two calls",
        ),
        (
            {
                "prepare": lambda self, b: {
                    "input": b["image"].float(),
                    "target": b["image"].float(),
                }
            },
            {},
            r"batch\['input'\] spans \[.*\], outside \[0, 1\]",
        ),
        ({}, {"keys": {"input", "noisy"}}, "the prepared batch lacks 'noisy'"),
        (
            {"g_loss": lambda self, n, b, o: (o["out"].mean() * 0, {})},
            {},
            "one optimization step left network 'G' \\(G group\\) unchanged; does g_loss\\(\\)",
        ),
        (
            {
                "predict": lambda self, nets, image, **_: torch.sigmoid(
                    nets["G"](image[..., :32, :40])
                )
            },
            {},
            "predict\\(\\) turned a 1x3x37x45 image into 1x3x32x40, not 1xCx37x45",
        ),
        (
            {"predict": lambda self, nets, image, **_: nets["G"](image) * 10},
            {},
            r"predict\(\)'s output spans .* outside \[0, 1\]",
        ),
        ({"evaluate": lambda self, nets, root, **_: {"metrics": {}}}, {}, "evaluate\\(\\) must"),
        (
            {"evaluate": lambda self, nets, root, **_: {"metrics": {"psnr": 20.0}}},
            {},
            "metric 'l1' is declared in metrics but evaluate\\(\\) reported only psnr",
        ),
        (
            {"evaluate": lambda self, nets, root, **_: {"metrics": {"l1": float("nan")}}},
            {},
            "evaluate\\(\\) reported l1 = nan, not a finite number",
        ),
    ],
    ids=[
        "unseeded-data",
        "batch-out-of-range",
        "missing-key",
        "step-changes-nothing",
        "predict-resizes",
        "predict-out-of-range",
        "no-metrics",
        "undeclared-metric",
        "nan-metric",
    ],
)
def test_each_broken_contract_is_named(check_toy, overrides, options, message):
    with pytest.raises(ConformanceError, match=f"^task 'toy': {message}"):
        check_toy(toy(**overrides), **options)


def test_state_outside_the_state_dict_is_caught():
    class Forgetful(nn.Module):
        """A weight kept outside the state_dict (a plain tensor attribute)."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.scale = torch.rand(1)  # not a buffer: lost by save/load

        def forward(self, x):
            return self.conv(x) * self.scale

    with pytest.raises(ConformanceError, match="computes other outputs"):
        check_model(Forgetful)


class ToyGeneration(ToyTask):
    """Makes images from noise: no image input, so generate() instead of predict()."""

    takes_image = False

    def prepare(self, batch):
        image = batch["image"].to(self.device).float() / 255
        return {"noise": torch.rand(image.shape, generator=torch.Generator().manual_seed(0))}

    def forward(self, nets, batch):  # the trainer's sample grids pass an empty batch
        noise = batch.get("noise", torch.rand(4, 3, 16, 16))
        return {"out": torch.sigmoid(nets["G"](noise))}

    def g_loss(self, nets, batch, out):
        loss = (out["out"] - 0.5).square().mean()
        return loss, {"l2": loss}

    def sample_columns(self, batch, out):
        return [out["out"]]

    def generate(self, nets, n, *, seed=0, label=None):
        noise = torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
        return torch.sigmoid(nets["G"](noise))


def test_generation_tasks_are_checked_through_generate(check_toy):
    report = check_toy(ToyGeneration)
    assert report.output_shape == (2, 3, 8, 8)

    def unseeded(self, nets, n, *, seed=0, label=None):
        return torch.sigmoid(nets["G"](torch.rand(n, 3, 8, 8)))

    with pytest.raises(ConformanceError, match="other images for the same seed"):
        check_toy(type("Unseeded", (ToyGeneration,), {"generate": unseeded}))


# -- check_model's failure modes ------------------------------------------------------------------
class Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.spare = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.used(x)


class BiasBeforeNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 4, 3, padding=1), nn.InstanceNorm2d(4)

    def forward(self, x):
        return self.norm(self.conv(x))


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.conv(x) + torch.randn_like(x)  # noise in eval mode too


@pytest.mark.parametrize(
    ("factory", "options", "message"),
    [
        (Unused, {}, "no gradient reaches spare.weight, spare.bias"),
        (BiasBeforeNorm, {}, "the gradient of conv.bias is zero \\(a bias followed by a norm"),
        (Noisy, {}, "two calls in eval mode give different outputs"),
        (lambda: nn.Conv2d(3, 3, 1), {"output_shape": (2, 3, 16, 16)}, "not \\(2, 3, 16, 16\\)"),
        (lambda: "not a module", {}, "must return an nn.Module, got str"),
    ],
    ids=["unused-parameter", "bias-before-norm", "noisy-eval", "wrong-shape", "not-a-module"],
)
def test_model_problems_are_named(factory, options, message):
    with pytest.raises(ConformanceError, match=message):
        check_model(factory, **options)


def test_zero_gradients_can_be_allowed_by_name():
    report = check_model(BiasBeforeNorm, zero_grad_ok=["conv.bias"])
    assert report.parameters == 3 * 4 * 9 + 4
    assert report.output_shape == (2, 4, 32, 32)


def test_tiny_image_folder_is_deterministic(tmp_path):
    a = tiny_image_folder(tmp_path / "a", count=2, size=(20, 30), seed=3)
    b = tiny_image_folder(tmp_path / "b", count=2, size=(20, 30), seed=3)
    files = sorted(p.name for p in a.iterdir())
    assert files == ["image_000.png", "image_001.png"]
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    from PIL import Image

    assert Image.open(a / files[0]).size == (30, 20)
    with pytest.raises(ValueError, match="count >= 1"):
        tiny_image_folder(tmp_path / "c", count=0)
