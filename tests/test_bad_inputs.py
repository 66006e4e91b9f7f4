"""Folders that are not tidy (issue 12): symbolic-link loops, unreadable files among good ones,
the same file name in two subfolders, images above Pillow's pixel limit."""

from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imgen.cli import cli
from imgen.data import decode_image, image_size, load_images, scan_images
from imgen.data import folder as folder_module
from imgen.errors import DataError
from imgen.failures import collect_failures
from imgen.metrics.scoring import ImageScores
from imgen.testing import tiny_image_folder

symlinks = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symlinks")


def run_cli(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def corrupt(path: Path) -> Path:
    """Write a file that has an image name but is not an image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return path


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory) -> Path:
    data = tiny_image_folder(tmp_path_factory.mktemp("data"), count=2, size=(32, 32))
    out = tmp_path_factory.mktemp("runs")
    result = run_cli(
        "train", "sr", "--data", data, "--out", out, "--scale", "2", "--gan-weight", "0",
        "--steps", "1", "--batch-size", "1", "--crop", "16", "--num-feat", "4",
        "--num-block", "1", "--workers", "0", "--sample-every", "1", "--save-every", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


# --- 1. symbolic-link loops ------------------------------------------------------------------


@symlinks
def test_scan_follows_a_link_to_itself_once(tmp_path: Path) -> None:
    tiny_image_folder(tmp_path, count=2, size=(8, 8))
    (tmp_path / "self").symlink_to(".", target_is_directory=True)
    found = [p.relative_to(tmp_path).as_posix() for p in scan_images(tmp_path)]
    assert found == ["image_000.png", "image_001.png"]


@symlinks
def test_scan_ends_with_two_loops_and_keeps_links_inside(tmp_path: Path, capsys) -> None:
    data = tiny_image_folder(tmp_path / "data", count=2, size=(8, 8))
    other = tiny_image_folder(tmp_path / "other", count=2, size=(8, 8))
    (data / "sub").mkdir()
    (data / "sub" / "up").symlink_to("..", target_is_directory=True)
    (data / "self").symlink_to(".", target_is_directory=True)
    (data / "more").symlink_to(other, target_is_directory=True)  # a real folder elsewhere
    (data / "alias.png").symlink_to(data / "image_000.png")  # the same file twice
    (data / "linked.png").symlink_to(other / "image_000.png")  # a file elsewhere
    scans: list[list[Path]] = []
    worker = threading.Thread(target=lambda: scans.append(scan_images(data)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert scans, "scan_images did not end within 60 s (a symlink loop walked forever)"
    found = [p.relative_to(data).as_posix() for p in scans[0]]
    # Links out of the folder (to `other`, and `sub/up` to its parent) are skipped (issue 24).
    assert found == ["alias.png", "image_001.png"]
    assert len({p.resolve() for p in scans[0]}) == 2
    assert "skipped 2 symbolic links" in capsys.readouterr().err


@symlinks
def test_predict_writes_each_image_once_through_a_loop(sr_run: Path, tmp_path: Path) -> None:
    data = tiny_image_folder(tmp_path / "in", count=2, size=(16, 16))
    (data / "self").symlink_to(".", target_is_directory=True)
    result = run_cli("predict", "--run", sr_run, data, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["image_000.png", "image_001.png"]


# --- 2. unreadable files among good ones -------------------------------------------------------


def test_predict_processes_every_readable_file_and_lists_the_bad(
    sr_run: Path, tmp_path: Path
) -> None:
    data = tiny_image_folder(tmp_path / "in", count=3, size=(16, 16))
    corrupt(data / "image_000b.png")  # sorted between the good ones
    corrupt(data / "sub" / "bad.jpg")
    result = run_cli("predict", "--run", sr_run, data, "-o", tmp_path / "out")
    assert result.exit_code == 1
    written = sorted(p.name for p in (tmp_path / "out").rglob("*.png"))
    assert written == ["image_000.png", "image_001.png", "image_002.png"]
    lines = result.stderr.strip().splitlines()
    assert "2 file(s) could not be read" in lines[-3]
    assert lines[-2].startswith(f"  {data / 'image_000b.png'}: ")
    assert lines[-1].startswith(f"  {data / 'sub' / 'bad.jpg'}: ")
    assert "Traceback" not in result.output


def test_eval_sr_scores_every_readable_file_and_lists_the_bad(tmp_path: Path) -> None:
    data = tiny_image_folder(tmp_path / "val", count=3, size=(16, 16))
    corrupt(data / "image_000b.png")
    truncated = (data / "image_001.png").read_bytes()
    (data / "cut.png").write_bytes(truncated[: len(truncated) // 2])
    result = run_cli(
        "eval", "sr", "--generator", "bicubic", "--scale", "2", "--data", data, "--json"
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["images"] == 3
    assert [f["path"] for f in report["failed"]] == [
        str(data / "cut.png"),
        str(data / "image_000b.png"),
    ]
    lines = result.stderr.strip().splitlines()
    assert "2 file(s) could not be read" in lines[-3]
    assert lines[-2].startswith(f"  {data / 'cut.png'}: ")


def test_eval_without_bad_files_exits_0(tmp_path: Path) -> None:
    data = tiny_image_folder(tmp_path / "val", count=2, size=(16, 16))
    result = run_cli(
        "eval", "sr", "--generator", "bicubic", "--scale", "2", "--data", data, "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["failed"] == []


def test_load_images_records_instead_of_warning_when_collecting(tmp_path: Path) -> None:
    tiny_image_folder(tmp_path, count=1, size=(8, 8))
    corrupt(tmp_path / "bad.png")
    messages: list[str] = []
    with collect_failures() as failed:
        images, _ = load_images(scan_images(tmp_path), warn=messages.append)
    assert len(images) == 1 and not messages
    assert [f.path for f in failed] == [str(tmp_path / "bad.png")]
    with pytest.raises(DataError):  # outside imgen eval nothing changes: the reader raises
        decode_image(tmp_path / "bad.png")


# --- 3. the same file name in two subfolders ---------------------------------------------------


def test_eval_keys_images_by_their_path_in_the_folder(tmp_path: Path) -> None:
    tiny_image_folder(tmp_path / "val" / "x", count=1, size=(16, 16), seed=1)
    tiny_image_folder(tmp_path / "val" / "y", count=1, size=(16, 16), seed=2)
    result = run_cli(
        "eval", "sr", "--generator", "bicubic", "--scale", "2", "--data", tmp_path / "val",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["images"] == 2
    assert sorted(report["per_image"]) == ["x/image_000.png", "y/image_000.png"]


def test_sr_pairs_match_lr_by_path_not_by_name(tmp_path: Path) -> None:
    from imgen_sr.evaluate import find_pairs

    for sub in ("x", "y"):
        tiny_image_folder(tmp_path / "HR" / sub, count=1, size=(16, 16))
        tiny_image_folder(tmp_path / "LR" / sub, count=1, size=(8, 8))
    pairs = [
        (hr.relative_to(tmp_path).as_posix(), lr.relative_to(tmp_path).as_posix())
        for hr, lr in find_pairs(tmp_path, 2)
    ]
    assert pairs == [
        ("HR/x/image_000.png", "LR/x/image_000.png"),
        ("HR/y/image_000.png", "LR/y/image_000.png"),
    ]


def test_image_scores_refuse_a_key_twice() -> None:
    import torch

    scores = ImageScores(["l1"])
    x = torch.zeros(1, 3, 4, 4)
    scores.add("x/a.png", x, x)
    with pytest.raises(ValueError, match=r"already has a row 'x/a\.png'"):
        scores.add("x/a.png", x, x)


# --- 4. images above Pillow's pixel limit ------------------------------------------------------


def test_large_image_gives_one_sentence_not_pillows_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 144 pixels: above, under twice
    monkeypatch.delenv("IMGEN_MAX_PIXELS", raising=False)
    monkeypatch.setattr(folder_module, "_warned_large", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's own DecompressionBombWarning would raise
        assert decode_image(path).shape == (12, 12, 3)
        assert image_size(path) == (12, 12)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1  # once per file
    assert err[0].startswith(f"imgen: WARNING: {path} is 0.000144 MP, above Pillow's limit")
    assert "IMGEN_MAX_PIXELS" in err[0]
    assert Image.MAX_IMAGE_PIXELS == 100  # restored

    monkeypatch.setenv("IMGEN_MAX_PIXELS", "1000")
    monkeypatch.setattr(folder_module, "_warned_large", set())
    decode_image(path)
    assert capsys.readouterr().err == ""


def test_too_large_image_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sr_run: Path
) -> None:
    path = tmp_path / "in" / "huge.png"
    path.parent.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 256 pixels: above twice the limit
    monkeypatch.delenv("IMGEN_MAX_PIXELS", raising=False)
    with pytest.raises(DataError) as info:
        decode_image(path)
    message = str(info.value)
    assert message == (
        f"{path} is 0.000256 MP, more than twice Pillow's limit of 0.0001 MP, so it is refused "
        "as a possible decompression bomb; set IMGEN_MAX_PIXELS=N to allow images of up to N "
        "pixels (0: no limit)."
    )
    result = run_cli("predict", "--run", sr_run, path, "-o", tmp_path / "out")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "more than twice Pillow's limit" in result.stderr
    monkeypatch.setenv("IMGEN_MAX_PIXELS", "0")
    assert decode_image(path).shape == (16, 16, 3)


def test_bad_max_pixels_is_a_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    monkeypatch.setenv("IMGEN_MAX_PIXELS", "lots")
    with pytest.raises(Exception, match="IMGEN_MAX_PIXELS=lots is not a number of pixels"):
        decode_image(path)


# --- files that break during training ----------------------------------------------------------


def truncate_pixels(path: Path) -> None:
    """Cut a PNG after its header: the size still reads, the pixels no longer decode."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


TRAIN_SR = (
    "--scale", "2", "--gan-weight", "0", "--batch-size", "2", "--crop", "16", "--num-feat",
    "4", "--num-block", "1", "--no-cache", "--sample-every", "0", "--log-every", "1", "--seed",
    "3", "--lr-schedule", "constant", "--deterministic",
)  # fmt: skip


def train_sr(data: Path, out: Path, *extra: object):
    args = ["train", "sr", "--data", data, "--out", out, *TRAIN_SR, *extra]
    return CliRunner().invoke(cli, [str(a) for a in args])


def final_weights(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run / "checkpoints" / "last.safetensors")


@pytest.mark.parametrize("workers", [0, 1])
def test_a_file_broken_after_the_check_is_replaced_and_named_once(tmp_path, workers):
    data = tiny_image_folder(tmp_path / "data", count=4, size=(32, 32))
    broken = sorted(Path(data).glob("*.png"))[1]
    truncate_pixels(broken)  # passes the header check of --no-cache
    result = train_sr(data, tmp_path / "runs", "--steps", "6", "--workers", workers)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    warnings_about = [line for line in result.output.splitlines() if broken.name in line]
    assert len(warnings_about) == 1 + workers * 0, result.output  # once, by name
    assert "can no longer be read" in warnings_about[0]


def test_stand_ins_keep_a_run_reproducible_and_resume_exact(tmp_path):
    data = tiny_image_folder(tmp_path / "data", count=4, size=(32, 32))
    truncate_pixels(sorted(Path(data).glob("*.png"))[2])
    whole = train_sr(data, tmp_path / "a", "--steps", "6", "--workers", "0", "--name", "w")
    half = train_sr(data, tmp_path / "b", "--steps", "3", "--workers", "0", "--name", "h")
    assert whole.exit_code == 0 and half.exit_code == 0, whole.output + half.output
    resumed = CliRunner().invoke(
        cli, ["train", "sr", "--resume", str(tmp_path / "b" / "h"), "--steps", "6"]
    )
    assert resumed.exit_code == 0, resumed.output
    a, b = final_weights(tmp_path / "a" / "w"), final_weights(tmp_path / "b" / "h")
    assert a.keys() == b.keys()
    assert all(torch_equal(a[k], b[k]) for k in a)


def torch_equal(x, y) -> bool:
    import torch

    return bool(torch.equal(x, y))


def test_training_stops_when_most_files_are_unreadable(tmp_path):
    data = tiny_image_folder(tmp_path / "data", count=4, size=(32, 32))
    for path in sorted(Path(data).glob("*.png"))[:3]:
        truncate_pixels(path)
    result = train_sr(data, tmp_path / "runs", "--steps", "4", "--workers", "1")
    assert result.exit_code == 1, result.output
    assert "training images can no longer be read" in result.output
    assert "Traceback" not in result.output and "worker process" not in result.output


def test_stand_ins_pick_the_next_readable_item():
    from imgen.data.datasets import StandIns

    said: list[str] = []

    def read(i: int) -> int:
        if i in (1, 2):
            raise DataError(f"cannot decode item {i}")
        return i * 10

    items = StandIns(["a", "b", "c", "d", "e"], read, said.append)
    assert [items(i) for i in range(5)] == [0, 30, 30, 30, 40]
    assert items(1) == 30  # the same stand-in on every call
    assert len(said) == 2 and said[0].startswith("b can no longer be read")
    with pytest.raises(DataError, match="3 of the 5 training images can no longer be read"):
        StandIns(list("abcde"), lambda i: read(i if i < 3 else 1), said.append)(1)


# --- issue 24, item 4: bad values and files are one sentence, exit 2 (value) or 1 (file) ----


class _RunsCode:
    """Touches ``path`` when unpickled: a pickle that would run code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _pickle(path: Path, marker: Path) -> Path:
    import pickle

    path.write_bytes(pickle.dumps({"config": _RunsCode(marker)}))
    return path


def _sentence(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    return tiny_image_folder(tmp_path / "data", count=2, size=(32, 32))


SR_TRAIN = ("train", "sr", "--scale", "2", "--gan-weight", "0", "--steps", "1", "--crop", "16",
            "--batch-size", "1", "--num-feat", "4", "--num-block", "1", "--workers", "0",
            "--sample-every", "0")  # fmt: skip
STYLE_TRAIN = ("train", "style", "--steps", "1", "--crop", "16", "--ngf", "4", "--ndf", "4",
               "--blocks", "1", "--workers", "0", "--sample-every", "0")  # fmt: skip


@pytest.mark.parametrize("damage", ["pickle", "truncate"])
@pytest.mark.parametrize("command", ["predict", "eval", "resume", "init", "report", "config"])
def test_an_unreadable_config_json_is_a_sentence(
    sr_run: Path, tmp_path: Path, data_folder: Path, command: str, damage: str
) -> None:
    import shutil

    run = Path(shutil.copytree(sr_run, tmp_path / "run"))
    config, marker = run / "config.json", tmp_path / "CODE_RAN"
    if damage == "pickle":
        _pickle(config, marker)
    else:
        config.write_bytes(config.read_bytes()[:40])
    image = data_folder / "image_000.png"
    args = {
        "predict": ("predict", "--run", run, image, "-o", tmp_path / "out"),
        "eval": ("eval", "sr", "--run", run, "--data", data_folder),
        "resume": ("train", "sr", "--resume", run, "--steps", "2"),
        "init": (*SR_TRAIN, "--data", data_folder, "--out", tmp_path / "o", "--init", run),
        "report": ("report", run),
        "config": (*SR_TRAIN, "--data", data_folder, "--out", tmp_path / "o", "--config", config),
    }[command]
    # A --config file holds option values the user wrote: a usage error, as bad TOML is.
    line = _sentence(run_cli(*args), 2 if command == "config" else 1)
    assert str(config) in line
    assert not marker.exists()


def test_a_junk_onnx_file_is_a_sentence(tmp_path: Path, data_folder: Path) -> None:
    pytest.importorskip("onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx model" * 8)
    args = ("predict", "--weights", junk, data_folder / "image_000.png", "-o", tmp_path / "o")
    assert "is not a readable ONNX model" in _sentence(run_cli(*args), 1)


@pytest.mark.parametrize("value", ["nan", "inf", "1e6", "-1"])
def test_predict_refuses_an_outscale_that_is_not_a_size(
    sr_run: Path, tmp_path: Path, data_folder: Path, value: str
) -> None:
    args = ("predict", "--run", sr_run, data_folder / "image_000.png", "-o", tmp_path / "out")
    assert "--outscale" in _sentence(run_cli(*args, "--outscale", value), 2)
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_size_it_cannot_run(sr_run: Path, tmp_path: Path) -> None:
    result = run_cli("export", "--run", sr_run, "-o", tmp_path / "m.onnx", "--size", "99999")
    assert "--size must be at most 4096, got 99999" in _sentence(result, 2)


@pytest.mark.parametrize(
    ("task", "option", "value", "expected"),
    [
        ("sr", "--num-feat", "1000000", "parameters"),
        ("style", "--ngf", "1000000", "parameters"),
        ("style", "--blocks", "-1", "--blocks must be at least 0, got -1"),
        ("style", "--pool-size", "-1", "--pool-size must be at least 0, got -1"),
        ("sr", "--generator-options", '{"num_feat": -5}', "--generator srresnet: Trying to"),
        ("style", "--identity-weight", "nan", "--identity-weight must be a finite number"),
        ("style", "--identity-weight", "-1", "--identity-weight must be a finite number of at"),
        ("style", "--cycle-weight", "-1", "--cycle-weight must be a finite number of at least"),
        ("sr", "--lr", "inf", "--lr must be a finite number"),
        ("sr", "--generator", "nosuch", "unknown generator 'nosuch'"),
        ("sr", "--pixel-loss", "nosuch", "unknown loss 'nosuch'"),
    ],
)
def test_train_refuses_a_bad_value_before_step_1(
    tmp_path: Path, data_folder: Path, task: str, option: str, value: str, expected: str
) -> None:
    base = SR_TRAIN if task == "sr" else STYLE_TRAIN
    out = tmp_path / "runs"
    result = run_cli(*base, "--data", data_folder, "--out", out, option, value)
    assert expected in _sentence(result, 2)
    assert not any(out.glob("*/checkpoints/step_*"))


def test_a_missing_data_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(*SR_TRAIN, "--data", tmp_path / "nosuch", "--out", tmp_path / "runs")
    assert "does not exist; check the path given to --data" in _sentence(result, 2)


def test_dcgan_refuses_classes_that_name_none(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for name in ("a", "b"):
        tiny_image_folder(data / name, count=2, size=(32, 32))
    result = run_cli(
        "train", "dcgan", "--data", data, "--out", tmp_path / "runs", "--image-size", "32",
        "--steps", "1", "--conditional", "--classes", ",,,",
    )  # fmt: skip
    assert "--classes ',,,' names no class" in _sentence(result, 2)


def test_a_pickle_as_vgg_weights_is_refused_unrun(tmp_path: Path, data_folder: Path) -> None:
    marker = tmp_path / "CODE_RAN"
    weights = _pickle(tmp_path / "vgg.pth", marker)
    result = run_cli(
        *SR_TRAIN, "--data", data_folder, "--out", tmp_path / "runs", "--gan-weight", "1",
        "--crop", "32", "--perceptual-weight", "1", "--vgg-weights", weights,
    )  # fmt: skip
    assert f"--vgg-weights {weights} is not a readable torch weights file" in _sentence(result, 1)
    assert not marker.exists()


# --- issue 24, item 5: a resume does not silently change the run's options -------------------


def test_resume_refuses_changed_options_unless_allowed(sr_run: Path, tmp_path: Path) -> None:
    import shutil

    run = Path(shutil.copytree(sr_run, tmp_path / "run"))
    before = (run / "config.json").read_text()
    changed = ("train", "sr", "--resume", run, "--steps", "2", "--lr", "1e-2", "--batch-size", "2")
    line = _sentence(run_cli(*changed), 2)
    assert "--lr 0.0005 -> 0.01" in line and "--batch-size 1 -> 2" in line
    assert "--allow-changes" in line
    assert (run / "config.json").read_text() == before  # nothing rewritten, nothing trained
    assert not (run / "checkpoints" / "step_2").exists()

    result = run_cli(*changed, "--allow-changes")
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["config"]
    assert (config["lr"], config["batch_size"], config["steps"]) == (1e-2, 2, 2)
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    change = [e for e in events if e["event"] == "options_changed"]
    assert change[0]["changes"] == {"batch_size": [1, 2], "lr": [0.0005, 0.01]}


def test_resume_takes_more_steps_without_allow_changes(sr_run: Path, tmp_path: Path) -> None:
    import shutil

    run = Path(shutil.copytree(sr_run, tmp_path / "run"))
    result = run_cli("train", "sr", "--resume", run, "--steps", "2", "--save-every", "1")
    assert result.exit_code == 0, result.output


def test_predict_refuses_more_samples_than_memory_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imgen.engine import device

    data = tiny_image_folder(tmp_path / "faces", count=2, size=(32, 32))
    result = run_cli(
        "train", "dcgan", "--data", data, "--out", tmp_path / "runs", "--name", "g",
        "--image-size", "32", "--steps", "1", "--batch-size", "2", "--ngf", "4", "--ndf", "4",
        "--workers", "0", "--sample-every", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    monkeypatch.setattr(device, "available_memory", lambda *a: 1024**3)  # 1 GB free
    grid = tmp_path / "grid.png"
    # 100000 samples of 3x32x32: 3.4 GB of floats, grid and copies, above half of 1 GB.
    line = _sentence(run_cli("predict", "--run", tmp_path / "runs" / "g", "--n", "100000",
                             "-o", grid), 2)  # fmt: skip
    assert "--n 100000 samples of 3x32x32 need about 3.4 GB" in line
    assert "draw at most 14563 at a time" in line
    assert not grid.exists()
    assert (
        run_cli("predict", "--run", tmp_path / "runs" / "g", "--n", "4", "-o", grid).exit_code == 0
    )
