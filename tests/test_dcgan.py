"""The dcgan task: DCGAN / conditional DCGAN models, data, training, predict grids, eval."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file

from imgen.cli import cli
from imgen.errors import DataError
from imgen_dcgan.data import GenerationDataset, find_classes, fit_square, lfw_sets
from imgen_dcgan.evaluate import mean_pairwise, nearest_distances
from imgen_dcgan.models import DCGANDiscriminator, DCGANGenerator

TINY = [
    "--image-size",
    "32",
    "--ngf",
    "8",
    "--ndf",
    "8",
    "--z-dim",
    "16",
    "--batch-size",
    "8",
    "--workers",
    "0",
    "--log-every",
    "1",
    "--sample-every",
    "2",
    "--save-every",
    "2",
]
TILE = 32 + 2  # a 32x32 sample plus the grid's 2-pixel padding


def invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def face_run(tmp_path_factory) -> Path:
    """Two steps on the built-in LFW faces, grayscale."""
    out = tmp_path_factory.mktemp("runs")
    result = invoke("train", "dcgan", "--out", str(out), "--steps", "2", "--channels", "1", *TINY)
    return Path(result.stdout.strip())


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    """Two classes of noisy solid colours: red/ and blue/, four 16x16 images each."""
    root = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    for name, rgb in (("red", (220, 40, 40)), ("blue", (40, 40, 220))):
        (root / name).mkdir()
        for i in range(4):
            noise = rng.integers(-20, 21, (16, 16, 3))
            image = np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(image).save(root / name / f"{i}.png")
    return root


# -- models ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_models_make_and_take_the_requested_size(size, channels):
    G = DCGANGenerator(image_size=size, out_channels=channels, ngf=8)
    D = DCGANDiscriminator(image_size=size, in_channels=channels, ndf=8)
    x = G(torch.randn(2, 100))
    assert x.shape == (2, channels, size, size)  # the seed's "64x64" generator made 16x16
    assert x.abs().max() <= 1  # tanh
    # one projection to 4x4, then a doubling transposed conv per stage: 4 * 2**stages = size
    deconvs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(deconvs) == {32: 4, 64: 5, 128: 6}[size]
    assert D(x).shape == (2,)
    assert G(torch.randn(3, 100, 1, 1)).shape == (3, channels, size, size)


def test_models_match_the_pytorch_dcgan_reference_at_64():
    def count(net):
        return sum(p.numel() for p in net.parameters())

    G, D = DCGANGenerator(), DCGANDiscriminator()
    assert count(G) == 3_576_704  # the PyTorch DCGAN example's netG and netD
    assert count(D) == 2_765_568
    # batch norm everywhere in G; none on D's first layer; LeakyReLU 0.2
    assert isinstance(D.features[1], torch.nn.LeakyReLU) and D.features[1].negative_slope == 0.2
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules()) == 3
    # the conditional models add the class embeddings and nothing else
    Gc = DCGANGenerator(num_classes=10, embed_dim=50)
    Dc = DCGANDiscriminator(num_classes=10)
    assert count(Gc) - count(G) == 10 * 50 + 50 * 512 * 16
    assert count(Dc) - count(D) == 10 * 512


@pytest.mark.parametrize("size", [48, 4, 0])
def test_image_size_must_be_a_power_of_two(size):
    with pytest.raises(ValueError, match="power of two"):
        DCGANGenerator(image_size=size)
    with pytest.raises(ValueError, match="power of two"):
        DCGANDiscriminator(image_size=size)


@pytest.mark.parametrize(
    ("num_classes", "z", "labels", "message"),
    [
        (0, torch.randn(2, 100), torch.tensor([0, 1]), "unconditional"),
        (3, torch.randn(2, 100), None, "conditional on 3 classes"),
        (3, torch.randn(2, 100), torch.tensor([0.0, 1.0]), "integer class labels"),
        (3, torch.randn(2, 100), torch.tensor([[0], [1]]), r"shape \(2,\)"),
        (3, torch.randn(2, 100), torch.tensor([0, 1, 2]), r"shape \(2,\)"),
        (3, torch.randn(2, 100), torch.tensor([0, 3]), r"outside \[0, 3\)"),
        (3, torch.randn(2, 99), torch.tensor([0, 1]), r"z of shape \(B, 100\)"),
    ],
)
def test_bad_conditions_are_clear_errors(num_classes, z, labels, message):
    G = DCGANGenerator(image_size=32, ngf=8, num_classes=num_classes)
    with pytest.raises(ValueError, match=message):
        G(z, labels)
    if z.shape[1] == 100:
        D = DCGANDiscriminator(image_size=32, ndf=8, num_classes=num_classes)
        with pytest.raises(ValueError, match=message):
            D(torch.zeros(2, 3, 32, 32), labels)


def test_discriminator_checks_the_image_shape():
    with pytest.raises(ValueError, match=r"shape \(B, 3, 32, 32\), got \(2, 3, 64, 64\)"):
        DCGANDiscriminator(image_size=32, ndf=8)(torch.zeros(2, 3, 64, 64))


def test_the_class_changes_both_networks():
    torch.manual_seed(0)
    G = DCGANGenerator(image_size=32, ngf=8, num_classes=2).eval()
    D = DCGANDiscriminator(image_size=32, ndf=8, num_classes=2).eval()
    z = torch.randn(1, 100).repeat(2, 1)
    labels = torch.tensor([0, 1])
    x = G(z, labels)
    assert not torch.allclose(x[0], x[1], atol=1e-4)
    same = (torch.rand(1, 3, 32, 32) * 2 - 1).repeat(2, 1, 1, 1)
    logits = D(same, labels)
    assert not torch.allclose(logits[0], logits[1], rtol=1e-3, atol=0)  # the projection term


# -- data -----------------------------------------------------------------------------------------
def test_fit_square_crops_the_centre_and_resizes_the_shorter_side():
    image = np.zeros((20, 60, 3), np.uint8)
    image[:, 20:40] = 255
    assert (fit_square(image, 20) == 255).all()  # no resize needed: the centre third
    big = fit_square(image, 40)  # shorter side 20 -> 40, then the centre 40 of 120 columns
    assert big.shape == (40, 40, 3)
    assert big[:, 4:-4].min() == 255


def test_lfw_faces_are_100_grayscale_25px_images_enlarged_on_demand():
    (faces,) = lfw_sets(["face"])
    assert len(faces) == 100
    face = faces.image(0)
    assert face.shape == (25, 25, 3) and face.dtype == np.uint8
    assert (face[..., 0] == face[..., 2]).all()  # gray replicated to RGB
    data = GenerationDataset([faces], image_size=64, channels=1, z_dim=8)
    item = data[0]
    assert item["image"].shape == (1, 64, 64) and item["image"].dtype == torch.uint8
    assert item["z"].shape == (8,)
    with pytest.raises(DataError, match="classes face, background"):
        lfw_sets(["cat"])


def test_items_are_a_pure_function_of_index_and_seed(colours):
    from imgen_dcgan.data import folder_sets

    data = GenerationDataset(folder_sets(colours, ["blue", "red"]), image_size=32, z_dim=8)
    assert data.labels == [0] * 4 + [1] * 4
    a, b = data[(5, 123)], data[(5, 123)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["z"], b["z"])
    assert a["label"] == 1
    assert not torch.equal(a["z"], data[(5, 124)]["z"])
    flipped = [s for s in range(40) if torch.equal(data[(5, s)]["image"], a["image"].flip(-1))]
    assert flipped and len(flipped) < 40  # about half the seeds flip


@pytest.mark.parametrize(
    ("layout", "wanted", "message"),
    [
        ({"a/x.png", "loose.png"}, None, "lie directly in"),
        ({"a/x.png"}, None, "at least two class subfolders"),
        ({"a/x.png", "b/y.png"}, ["a", "c"], "no class folder 'c'"),
        ({"a,b/x.png", "c/y.png"}, None, "commas"),
    ],
)
def test_class_folders_are_checked(tmp_path, layout, wanted, message):
    for name in layout:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    with pytest.raises(DataError, match=message):
        find_classes(tmp_path, wanted)


def test_conditional_training_without_class_folders_is_one_error(tmp_path, photo_folder):
    result = invoke("train", "dcgan", "--data", str(photo_folder), "--conditional", *TINY, code=1)
    assert "lie directly in" in result.output
    assert not (tmp_path / "runs").exists()


# -- evaluation helpers ---------------------------------------------------------------------------
def test_nearest_distances_and_diversity_detect_copies_and_collapse():
    reals = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    d_fake, d_real = nearest_distances(reals, reals, mirrored=False)
    assert d_fake == pytest.approx(0.0, abs=1e-3)  # copies sit on the training images
    assert d_real > 0.2  # uniform noise images are ~0.41 apart
    d_fake, _ = nearest_distances(reals.flip(-1), reals, mirrored=True)
    assert d_fake == pytest.approx(0.0, abs=1e-3)  # a mirrored copy is a copy
    collapsed = reals[:1].repeat(5, 1, 1, 1)
    assert mean_pairwise(collapsed) == pytest.approx(0.0, abs=1e-3)
    assert mean_pairwise(reals) == pytest.approx(np.sqrt(1 / 6), rel=0.05)  # E(u-v)^2 = 1/6


# -- CLI: train, predict, eval, resume -----------------------------------------------------------
def test_training_writes_a_fixed_noise_grid(face_run):
    info = json.loads((face_run / "config.json").read_text())
    assert info["task"] == "dcgan"
    assert info["config"]["channels"] == 1 and info["config"]["image_size"] == 32
    grid = read(face_run / "samples" / "step_000002.png")
    assert grid.shape[:2] == (8 * TILE + 2, 8 * TILE + 2)  # 8 rows of 8 samples
    events = [json.loads(x) for x in (face_run / "metrics.jsonl").read_text().splitlines()]
    train = next(e for e in events if e["event"] == "train")
    assert {"d_loss", "d_real", "d_fake", "g_loss"} <= set(train)
    weights = load_file(str(face_run / "checkpoints" / "last.safetensors"))
    assert any(k.startswith("D.") for k in weights) and any(k.startswith("G.") for k in weights)


def test_predict_draws_a_seeded_grid(face_run, tmp_path):
    paths = {}
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        paths[name] = tmp_path / f"{name}.png"
        result = invoke(
            "predict", "--run", str(face_run), "--n", "10", "--seed", seed, "-o", str(paths[name])
        )
        assert result.stdout.strip() == str(paths[name])
    grid = read(paths["a"])
    assert grid.shape == (3 * TILE + 2, 4 * TILE + 2, 3)  # ceil(sqrt(10)) = 4 a row, 3 rows
    assert (grid[..., 0] == grid[..., 2]).all()  # a grayscale run: R = G = B
    assert np.array_equal(read(paths["a"]), read(paths["b"]))
    assert not np.array_equal(read(paths["a"]), read(paths["c"]))


def test_separate_samples_are_the_grid_tiles(face_run, tmp_path):
    invoke(
        "predict", "--run", str(face_run), "--n", "3", "--seed", "5", "-o", str(tmp_path / "g.png")
    )
    result = invoke(
        "predict", "--run", str(face_run), "--n", "3", "--seed", "5", "--separate",
        "-o", str(tmp_path / "each"),
    )  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "each").iterdir())
    assert names == ["0000.png", "0001.png", "0002.png"]
    assert len(result.stdout.split()) == 3
    grid = read(tmp_path / "g.png")
    for i, name in enumerate(names):
        tile = grid[2 + (i // 2) * TILE :][:32, 2 + (i % 2) * TILE :][:, :32]
        assert np.array_equal(read(tmp_path / "each" / name), tile)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["INPUT"], "takes no INPUTS"),
        (["-o", "FOLDER"], "not an image file name"),
        (["--class", "cat"], "needs a conditional run"),
        (["--n", "0"], "--n must be at least 1"),
    ],
)
def test_predict_usage_errors_for_generation_runs(face_run, tmp_path, args, message):
    (tmp_path / "folder").mkdir()
    args = [
        str(tmp_path / "folder") if a == "FOLDER" else str(face_run / "config.json") if a == "INPUT"
        else a
        for a in args
    ]  # fmt: skip
    if "-o" not in args:
        args += ["-o", str(tmp_path / "grid.png")]
    result = invoke("predict", "--run", str(face_run), *args, code=2)
    assert message in result.output
    assert not (tmp_path / "grid.png").exists()


def test_predict_for_image_tasks_is_unchanged(tmp_path, photo_folder):
    run = tmp_path / "sr-run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": "sr", "config": {}}))
    result = invoke("predict", "--run", str(run), "-o", str(tmp_path / "out"), code=2)
    assert "missing INPUTS" in result.output
    result = invoke(
        "predict", "--run", str(run), str(photo_folder), "--n", "4", "-o", str(tmp_path), code=2
    )
    assert "--n is for generation runs" in result.output


def test_predict_help_needs_no_run_and_shows_both_uses():
    text = invoke("predict", "--help").output
    assert "imgen predict --run runs/sr-" in text
    assert "--n 64 --seed 1 -o grid.png" in text
    assert "--separate" in text and "--class NAME" in text


def test_eval_reports_sample_statistics_and_why_fid_is_missing(face_run, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty cache: no weights
    monkeypatch.delenv("IMGEN_INCEPTION_WEIGHTS", raising=False)
    result = json.loads(invoke("eval", "dcgan", "--run", str(face_run), "--json").stdout)
    assert result["task"] == "dcgan" and result["real_images"] == 100
    assert result["data"] == "scikit-image's LFW subset (built in)"
    metrics = result["metrics"]
    assert {"nn_rms_fake", "nn_rms_real", "nn_ratio", "diversity"} <= set(metrics)
    assert metrics["nn_ratio"] == pytest.approx(metrics["nn_rms_fake"] / metrics["nn_rms_real"])
    assert 0 <= metrics["diversity"] < 1  # two steps from a near-constant initial generator
    assert "fid" not in metrics
    fid_note = next(n for n in result["notes"] if n.startswith("fid: unavailable ("))
    if importlib.util.find_spec("torchmetrics") and importlib.util.find_spec("torch_fidelity"):
        assert str(tmp_path / "torch" / "hub" / "checkpoints") in fid_note
    else:
        assert "pip install 'imgen[metrics]'" in fid_note


def test_resume_continues_exactly(tmp_path):
    common = ["--out", str(tmp_path), "--deterministic", *TINY]
    invoke("train", "dcgan", "--name", "straight", "--steps", "4", *common)
    invoke("train", "dcgan", "--name", "split", "--steps", "2", *common)
    invoke("train", "dcgan", "--resume", str(tmp_path / "split"), "--steps", "4")
    straight = load_file(str(tmp_path / "straight" / "checkpoints" / "last.safetensors"))
    split = load_file(str(tmp_path / "split" / "checkpoints" / "last.safetensors"))
    assert straight.keys() == split.keys()
    for key, value in straight.items():
        assert torch.equal(value, split[key]), key


@pytest.mark.parametrize(
    ("options", "log"),
    [(["--gan-loss", "wgan-gp", "--n-critic", "2"], "gp"), (["--r1-weight", "1"], "r1")],
)
def test_the_core_objectives_train_dcgan(tmp_path, options, log):
    run = Path(
        invoke(
            "train", "dcgan", "--out", str(tmp_path), "--steps", "1", *TINY, *options
        ).stdout.strip()
    )
    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = next(e for e in events if e["event"] == "train")
    assert np.isfinite(train[log]) and np.isfinite(train["g_loss"])


def test_spectral_norm_takes_the_discriminator_without_batch_norm(tmp_path):
    from imgen.plugins import create_task

    task = create_task("dcgan")
    cfg = task.Config(spectral_norm=True, gan_loss="hinge", image_size=32, ngf=8, ndf=8)
    task.setup(cfg, torch.device("cpu"), train=True)
    D = task.build(cfg)["D"]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    cfg = task.Config(gan_loss="wgan-gp")
    task.setup(cfg, torch.device("cpu"), train=True)
    assert task.d_norm == "layer"  # WGAN-GP's per-sample penalty: no batch norm in the critic
    result = invoke("train", "dcgan", "--gan-loss", "wgan-gp", "--d-norm", "batch", code=2)
    assert "--d-norm batch does not fit --gan-loss wgan-gp" in result.output


# -- conditional DCGAN ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def colour_run(colours, tmp_path_factory) -> Path:
    """A short conditional training on red/blue: enough for the class to decide the colour.

    Hinge loss: on this toy the vanilla loss lets D win for a first 100-300 steps, depending
    on the seed, while hinge separated the colours within 120 steps for each of seeds 0-3.
    """
    out = tmp_path_factory.mktemp("runs")
    result = invoke(
        "train", "dcgan", "--data", str(colours), "--conditional", "--out", str(out),
        *TINY, "--z-dim", "8", "--embed-dim", "8", "--batch-size", "16", "--lr", "1e-3",
        "--gan-loss", "hinge",
        "--steps", "150", "--sample-every", "150", "--save-every", "150", "--log-every", "50",
    )  # fmt: skip
    return Path(result.stdout.strip())


def test_conditional_run_stores_its_classes(colour_run):
    config = json.loads((colour_run / "config.json").read_text())["config"]
    assert config["conditional"] is True and config["classes"] == "blue,red"
    grid = read(colour_run / "samples" / "step_000150.png")
    assert grid.shape[:2] == (2 * TILE + 2, 8 * TILE + 2)  # one row per class


@pytest.mark.parametrize(("label", "channel"), [("red", 0), ("blue", 2)])
def test_conditional_samples_have_the_class_colour(colour_run, tmp_path, label, channel):
    out = tmp_path / "each"
    invoke(
        "predict", "--run", str(colour_run), "--class", label, "--n", "16", "--separate",
        "-o", str(out),
    )  # fmt: skip
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"{i:04d}_{label}.png" for i in range(16)]
    means = np.stack([read(f).reshape(-1, 3).mean(0) for f in files])
    dominant = means.argmax(1)
    assert (dominant == channel).mean() >= 0.9, means.round()


def test_unknown_class_lists_the_known_ones(colour_run, tmp_path):
    result = invoke(
        "predict", "--run", str(colour_run), "--class", "green", "-o", str(tmp_path / "g.png"),
        code=2,
    )  # fmt: skip
    assert "unknown class 'green'; this run knows: blue, red" in result.output


def test_conditional_eval_scores_class_accuracy(colour_run, colours):
    result = json.loads(invoke("eval", "dcgan", "--run", str(colour_run), "--json").stdout)
    assert result["data"] == str(colours) and result["classes"] == ["blue", "red"]
    assert result["metrics"]["class_accuracy_real"] == 1.0  # red vs blue is easy
    assert result["metrics"]["class_accuracy"] >= 0.9


@pytest.mark.parametrize("conditional", [False, True])
def test_dcgan_keeps_the_task_contract(colours, tmp_path, conditional):
    from imgen.testing import check_task

    config = {"image_size": 32, "ngf": 8, "ndf": 8, "z_dim": 8, "conditional": conditional}
    report = check_task("dcgan", data=colours, config=config, tmp_path=tmp_path)
    assert report.output_shape == (2, 3, 32, 32)  # generate(), as takes_image is False
