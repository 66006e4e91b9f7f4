"""The Task contract and the GAN bases: registered metrics and losses are really used, the
contract's defaults hold, and the core names no built-in task."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from imgen.cli import cli
from imgen.errors import RegistryError, UsageError
from imgen.metrics.scoring import ImageScores
from imgen.nn.contract import ImageModel, required_multiple, weights_note
from imgen.task import GANTask, PairedGANTask, Task

HALF = """
import torch
import imgen


def always_half(pred, target):
    return torch.full((pred.shape[0],), 0.5)


@imgen.hookimpl
def imgen_register_metrics(register):
    register("always_half", always_half, higher_is_better=True, help="0.5 for every image")


@imgen.hookimpl
def imgen_register_losses(register):
    register("double-l1", DoubleL1, help="2 x L1")


class DoubleL1(torch.nn.Module):
    def forward(self, pred, target):
        return 2 * (pred - target).abs().mean()
"""


def builtin(name: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name=name, value=f"imgen_{name}", group="imgen")


@pytest.fixture
def half_host(isolated_host, make_plugin):
    return isolated_host([builtin("sr"), builtin("translate"), make_plugin("half", HALF)])


def test_eval_computes_a_plugins_metric(half_host, photo_folder: Path) -> None:
    args = ["eval", "sr", "--generator", "bicubic", "--data", str(photo_folder)]
    result = CliRunner().invoke(cli, [*args, "--metric", "always_half", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["metrics"]["always_half"] == 0.5
    assert set(report["metrics"]) >= {"psnr_y", "ssim_y", "always_half"}
    assert len(report["per_image"]) == report["images"] == 4
    assert all(row["always_half"] == 0.5 for row in report["per_image"].values())


def test_eval_metric_unknown_name_is_a_usage_error(half_host, photo_folder: Path) -> None:
    args = ["eval", "sr", "--generator", "bicubic", "--data", str(photo_folder)]
    result = CliRunner().invoke(cli, [*args, "--metric", "always_hlf"])
    assert result.exit_code == 2
    assert "unknown metric 'always_hlf'; did you mean 'always_half'?" in result.output


def test_pixel_loss_comes_from_the_registry(half_host) -> None:
    from imgen.config import from_dict
    from imgen.plugins import create_task

    task = create_task("sr")
    cfg = from_dict(task.Config, {"pixel_loss": "double-l1", "gan_weight": 0.0})
    task.setup(cfg, torch.device("cpu"), train=True)
    hr = torch.rand(2, 3, 8, 8)
    out = {"sr": hr + 0.25}
    loss, _ = task.g_loss({"G": torch.nn.Identity()}, {"lr": hr, "hr": hr}, out)
    assert float(loss) == pytest.approx(0.5)
    cfg = from_dict(task.Config, {"pixel_loss": "double-l2"})
    with pytest.raises(RegistryError, match="unknown loss 'double-l2'; did you mean"):
        task.setup(cfg, torch.device("cpu"), train=True)


def test_image_scores_means_rows_and_unavailable_metrics(half_host) -> None:
    scores = ImageScores(["psnr", "l1", "lpips", "always_half"], suffix="_x")
    a = torch.zeros(1, 3, 16, 16)
    scores.add("a.png", a, a + 0.5)
    scores.add("b.png", a + 0.25, a + 0.75)
    summary = scores.summary()
    assert summary["images"] == 2
    # outputs are scored as saved 8-bit images: 0.25 -> 64/255
    expected_l1 = (0.5 + (0.75 - 64 / 255)) / 2
    assert summary["metrics"]["l1_x"] == pytest.approx(expected_l1, abs=1e-6)
    assert summary["metrics"]["always_half_x"] == 0.5
    assert "lpips_x" not in summary["metrics"]  # no AlexNet weights in a test
    assert [n.split(":")[0] for n in summary["notes"]] == ["lpips"]
    with pytest.raises(UsageError, match="unknown metric"):
        ImageScores(["psnr", "nope"])


def test_create_model_rejects_unknown_arguments(half_host) -> None:
    from imgen.plugins import create_model

    with pytest.raises(RegistryError, match=r"takes no argument 'num_fet'; it accepts: "):
        create_model("srresnet", "generator", num_fet=32)
    net = create_model("srresnet", "generator", offered={"num_feat": 8, "depth": 3})
    assert net.conv_first.out_channels == 8


def test_contract_defaults() -> None:
    task = Task()
    assert (task.training, task.state_dict(), task.d_steps(), task.spectral_norm()) == (
        False,
        None,
        1,
        False,
    )
    assert task.eval_examples == [] and task.bench_variants == [{"name": "default"}]
    assert task.generated_labels(3) == []
    task.setup("cfg", torch.device("cpu"), train=True)
    assert task.training and task.cfg == "cfg"

    class Eight(ImageModel):
        required_multiple = 8
        weights_note = "from nowhere"

    assert (required_multiple(Eight()), weights_note(Eight())) == (8, "from nowhere")
    assert (required_multiple(torch.nn.Conv2d(1, 1, 1)), weights_note(torch.nn.ReLU())) == (
        1,
        None,
    )


@pytest.mark.parametrize("task_name", ["sr", "translate", "style", "dcgan"])
def test_builtin_tasks_extend_the_gan_bases(task_name: str) -> None:
    from imgen.plugins import create_task

    task = create_task(task_name)
    assert isinstance(task, GANTask)
    assert isinstance(task, PairedGANTask) == (task_name in ("sr", "translate"))
    assert task.eval_examples and task.bench_variants


def test_the_core_names_no_builtin_task() -> None:
    core = Path(__file__).parents[1] / "imgen"
    pattern = re.compile(
        r"""["'](sr|translate|style|dcgan)["']|task\.name (==|in) """
        r"|(get|has)attr\((self\.)?(task|loaded|run_task)\b"  # the contract declares them
    )
    found = [
        f"{path.relative_to(core)}:{n}: {line.strip()}"
        for path in core.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line) and not line.lstrip().startswith(("#", ">>>"))
    ]
    assert found == []
